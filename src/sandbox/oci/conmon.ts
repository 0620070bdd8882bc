import { spawn } from "node:child_process";
import { StrataError } from "../../errors.js";

export interface ConmonLaunch {
  readonly conmon: string;
  readonly runtime: string;
  /** The runtime's global flags, given before its --root (runsc's --platform, --network). */
  readonly runtimeArgs?: readonly string[];
  readonly runtimeRoot: string;
  readonly id: string;
  readonly bundle: string;
  readonly pidFile: string;
  /** conmon writes stdout and stderr here, one `<time> <stream> <P|F> <text>` record a line. */
  readonly logFile: string;
  readonly logSizeMax: number;
  /** conmon writes the exit status (128+signal when killed) to `<persistDir>/exit` when the process ends. */
  readonly persistDir: string;
  readonly socketDir: string;
  /** How long `runtime create` may take before the instance counts as failed (default 60 s). */
  readonly timeoutMs?: number;
}

/**
 * The per-instance holder between Strata and the container: conmon runs `runc create` with pipes for the
 * container's stdout/stderr, writes them to a log file, reaps the container's init (it is a subreaper)
 * and records its exit status. It outlives the daemon, so logs and the exit status survive a daemon
 * restart, and a recovered instance is read the same way as a fresh one.
 *
 * Started with --sync so it stays this process's child (reaped by node, no zombie on hosts whose pid 1
 * does not reap) while in its own session (spawn's detached), so a daemon exit does not take it down.
 * Resolves once `runc create` succeeded (`runc start` is the caller's) with conmon's pid, which
 * conmon itself only records when it double-forks (not with --sync).
 */
export async function launchConmon(l: ConmonLaunch): Promise<number> {
  const argv = [
    "--api-version", "1", "--sync",
    "--cid", l.id, "--cuuid", l.id, "--name", l.id,
    "--runtime", l.runtime, ...(l.runtimeArgs ?? []).flatMap((a) => ["--runtime-arg", a]),
    "--runtime-arg", "--root", "--runtime-arg", l.runtimeRoot,
    "--bundle", l.bundle, "--container-pidfile", l.pidFile,
    "--log-path", `k8s-file:${l.logFile}`, "--log-size-max", String(l.logSizeMax),
    "--persist-dir", l.persistDir, "--socket-dir-path", l.socketDir,
  ];
  // spawn, not exec(): conmon is long-running and hands back its result on an extra pipe (fd 3).
  const child = spawn(l.conmon, argv, {
    // conmon drops an `oom` marker file in its working directory when the container is OOM-killed: keep
    // it in the instance's own directory, not the daemon's.
    cwd: l.persistDir,
    detached: true,
    stdio: ["ignore", "ignore", "pipe", "pipe"],
    env: { ...process.env, _OCI_SYNCPIPE: "3" },
  });
  child.unref();
  const sync = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void; unref?(): void };
  const stderr = child.stderr!;
  let errText = "";
  stderr.setEncoding("utf8").on("data", (c: string) => (errText += c));
  try {
    const message = await new Promise<{ data: number; message?: string }>((resolve, reject) => {
      let buf = "";
      sync.setEncoding("utf8");
      sync.on("data", (c: string) => {
        buf += c;
        const nl = buf.indexOf("\n");
        if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as { data: number; message?: string });
      });
      sync.on("error", reject);
      child.on("error", reject);
      child.on("exit", (code, signal) =>
        reject(new Error(`conmon exited (${signal ?? code}) before the container was created${errText ? `: ${errText.trim()}` : ""}`)),
      );
      const timeoutMs = l.timeoutMs ?? 60_000;
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${l.runtime} create did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      sync.once("close", () => clearTimeout(timer));
      child.once("exit", () => clearTimeout(timer));
    });
    if (message.data <= 0) {
      throw new Error(`${l.runtime} create failed: ${(message.message ?? errText).trim() || "no message"}`);
    }
    return child.pid!;
  } catch (err) {
    throw new StrataError("INSTANCE_FAILED", `instance ${l.id} could not be created: ${(err as Error).message}`, { instanceId: l.id }, { cause: err });
  } finally {
    // The pipes are only needed until the create result; conmon keeps running on its own.
    sync.destroy();
    stderr.destroy();
  }
}
