import { readFile } from "node:fs/promises";
import type { StrataHome } from "./home.js";
import { processRunning } from "./system/process.js";

/** What a running daemon writes to STRATA_HOME/daemon.json so the CLI can find it. */
export interface DaemonInfo {
  pid: number;
  /** The daemon process's start time (procStat), so a reused pid is not taken for it; absent in older files. */
  startTime?: number;
  apiUrl: string;
  routerUrl: string;
  domain: string;
  routerPort: number;
}

/** Whether the daemon this daemon.json describes still runs (not a zombie, not a reused pid). */
export function daemonRunning(info: DaemonInfo): boolean {
  return processRunning(info.pid, info.startTime);
}

export async function readDaemonInfo(home: StrataHome): Promise<DaemonInfo | undefined> {
  try {
    return JSON.parse(await readFile(home.daemonInfo, "utf8")) as DaemonInfo;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
