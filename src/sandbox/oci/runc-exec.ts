import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { execPassThrough } from "../../system/exec.js";
import type { ExecIO } from "../driver.js";
import type { RuntimeCli } from "./runtime-cli.js";

/**
 * `runc exec` into a container that has a user namespace and a network namespace made before it (by
 * HostNetwork, so owned by the host's user namespace). runc 1.1 (Debian 12's) joins the container's user
 * namespace first and then fails to join that network namespace (EPERM: setns needs CAP_SYS_ADMIN over
 * the namespace's owner); runc 1.2.1 joins in two passes as nsenter(1) does (opencontainers/runc#4390,
 * fixed by #4492). Until then: the command starts in the instance's network namespace already (nsenter
 * --net, as host root), and runc is handed a copy of its state whose configuration lacks the network namespace, so
 * it joins every other namespace, the cgroups, capabilities, seccomp and no-new-privileges as usual and
 * leaves the network namespace as it found it. The copy lives in a state root of its own for this one
 * command; runc writes nothing for an exec.
 */
export async function runcExecInNetns(cli: RuntimeCli, id: string, argv: readonly string[], io: ExecIO): Promise<number> {
  const state = JSON.parse(await readFile(join(cli.stateRoot, id, "state.json"), "utf8")) as {
    init_process_pid?: number;
    config?: { namespaces?: Array<{ type: string }> };
  };
  const pid = state.init_process_pid;
  const namespaces = state.config?.namespaces;
  if (!pid || !namespaces?.some((ns) => ns.type === "NEWNET")) throw new StrataError("DRIVER_FAILED", `runc's state of ${id} has no init pid or network namespace`);
  // runc derives the paths it joins from the configured namespaces and the init pid.
  state.config!.namespaces = namespaces.filter((ns) => ns.type !== "NEWNET");
  const root = await mkdtemp(join(cli.stateRoot, `.exec-${id}-`));
  try {
    await mkdir(join(root, id), { mode: 0o700 });
    await writeFile(join(root, id, "state.json"), JSON.stringify(state), { mode: 0o600 });
    return await execPassThrough(["nsenter", `--net=/proc/${pid}/ns/net`, "--", cli.binary, ...cli.globalArgs, "--root", root, "exec", id, ...argv], io);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
