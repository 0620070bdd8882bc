import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { ignoreMissing } from "../../system/fs.js";
import { processExists } from "../../system/process.js";
import { QmpClient } from "./qmp.js";

/**
 * The VMM's pid while that process runs and is this instance's VMM: the number in its pid file, when
 * /proc/<pid>/cmdline names the instance's directory (pids are reused).
 */
export async function vmmPid(pidFile: string, instanceDir: string): Promise<number | undefined> {
  const pid = Number(await readFile(pidFile, "utf8").catch(ignoreMissing("")));
  if (!(pid > 0) || !processExists(pid)) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(ignoreMissing(""));
  return cmdline.includes(instanceDir) ? pid : undefined;
}

/** Ends a QEMU VMM at once: QMP quit on its control socket, SIGKILL if it does not go. */
export async function quitQemu(controlSocket: string, pid: number): Promise<void> {
  if (!processExists(pid)) return;
  const qmp = await QmpClient.connect(controlSocket, 2000).catch(() => null); // no socket: signal instead
  if (qmp) {
    await qmp.execute("quit", {}).catch(() => undefined); // the socket closes as QEMU quits, before or after the reply
    qmp.close();
  }
  for (let i = 0; i < 100 && processExists(pid); i++) await sleep(20);
  if (processExists(pid)) process.kill(pid, "SIGKILL");
  for (let i = 0; i < 250 && processExists(pid); i++) await sleep(20);
}

/**
 * What the handle of an instance run by a VMM process (microvm, kata's agent, vm) keeps in the store for
 * recover(), by schema version: recover() re-adopts the VMM that still has this pid.
 */
export const VmmHandleData = z.object({
  v: z.literal(1),
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  pid: z.number().int().positive(),
  detail: z.string(),
});
export type VmmHandleData = z.infer<typeof VmmHandleData>;
