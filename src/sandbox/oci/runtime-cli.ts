import { StrataError } from "../../errors.js";
import { exec, execPassThrough } from "../../system/exec.js";
import type { ExecIO } from "../driver.js";

export type OciRuntimeName = "runc" | "crun";

export type ContainerStatus = "creating" | "created" | "running" | "paused" | "stopped";

/** Exit codes that may mean "not there / not running": 1 for runc and crun, 128 for runsc. */
const OK_OR_REFUSED = [0, 1, 128];

/**
 * The OCI runtime command line (runc, crun and runsc share it), with a state root of Strata's own so `list`
 * shows only Strata's containers and podman's are never touched. `globalArgs` go before `--root` on every
 * call (runsc's --platform and --network). Whether a refusal means "already gone" is read from its stderr.
 */
export class RuntimeCli {
  constructor(
    readonly binary: string,
    readonly stateRoot: string,
    readonly globalArgs: readonly string[] = [],
  ) {}

  private argv(...rest: string[]): string[] {
    return [this.binary, ...this.globalArgs, "--root", this.stateRoot, ...rest];
  }

  /** The container's status, or null when the runtime does not know it. */
  async status(id: string): Promise<{ status: ContainerStatus; pid: number } | null> {
    const r = await exec(this.argv("state", id), { okCodes: OK_OR_REFUSED });
    if (r.code !== 0) {
      if (/does not exist|not found|No such file/i.test(r.stderr)) return null;
      throw new StrataError("DRIVER_FAILED", `${this.binary} state ${id}: ${r.stderr.trim()}`, { stderr: r.stderr.trim() });
    }
    const state = JSON.parse(r.stdout) as { status: ContainerStatus; pid: number };
    return { status: state.status, pid: state.pid };
  }

  /** `prefix` runs the command through a launcher (gVisor's: nsenter into a mount namespace of its own). */
  async start(id: string, prefix: readonly string[] = []): Promise<void> {
    await exec([...prefix, ...this.argv("start", id)]);
  }

  /**
   * Signals the container's init; a container that is not running (or gone) is not an error, nor is a runsc
   * sandbox already winding down (its control server closed: "connecting to control server ... refused", or
   * closed while answering: a KILL right after the TERM the app exited on, "urpc method ... connection reset
   * by peer").
   */
  async kill(id: string, signal: "TERM" | "KILL"): Promise<void> {
    const r = await exec(this.argv("kill", id, signal), { okCodes: OK_OR_REFUSED });
    if (r.code !== 0 && !/not running|does not exist|not found|process already finished|No such|control server.*connection refused|urpc method .* connection reset by peer/i.test(r.stderr)) {
      throw new StrataError("DRIVER_FAILED", `${this.binary} kill ${id} ${signal}: ${r.stderr.trim()}`, { stderr: r.stderr.trim() });
    }
  }

  /** Deletes the container (killing it if needed) and its cgroups; a container already gone is fine. */
  async delete(id: string): Promise<void> {
    const r = await exec(this.argv("delete", "--force", id), { okCodes: OK_OR_REFUSED });
    if (r.code !== 0 && !/does not exist|not found|No such/i.test(r.stderr)) {
      throw new StrataError("DRIVER_FAILED", `${this.binary} delete ${id}: ${r.stderr.trim()}`, { stderr: r.stderr.trim() });
    }
  }

  /**
   * `<runtime> exec`: argv in the running container, with the process settings of its config.json (user,
   * env, capabilities, no-new-privileges); resolves to the command's exit code. The runtime forwards the
   * SIGTERM an abort sends.
   */
  exec(id: string, argv: readonly string[], io: ExecIO): Promise<number> {
    return execPassThrough(this.argv("exec", id, ...argv), io);
  }

  async list(): Promise<string[]> {
    const r = await exec(this.argv("list", "--format", "json"));
    const rows = JSON.parse(r.stdout.trim() || "[]") as Array<{ id: string }> | null;
    return (rows ?? []).map((row) => row.id);
  }
}
