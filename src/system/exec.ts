import { spawn, type SpawnOptions } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { join } from "node:path";
import { constants as osConstants } from "node:os";
import { StrataError } from "../errors.js";

/**
 * The one way Strata runs a subprocess: an argv array (never a shell string), and on failure an error
 * that carries argv, exit code and stderr.
 */
export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  timeoutMs?: number;
  /** Called with each chunk of stdout/stderr as it arrives (for streaming build progress). */
  onOutput?: (chunk: string, stream: "stdout" | "stderr") => void;
  /** Exit codes that count as success (default [0]). */
  okCodes?: number[];
  /** Cap on captured output per stream, bytes (default 4 MiB); the tail is kept. */
  maxOutputBytes?: number;
  /** Open file descriptors the child inherits as fd 3, 4, ... (e.g. a file QEMU reads with `fd:3`). */
  passFds?: readonly number[];
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export async function exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new StrataError("INTERNAL", "exec called with an empty argv");
  const max = opts.maxOutputBytes ?? 4 * 1024 * 1024;
  return await new Promise<ExecResult>((resolve, reject) => {
    const spawnOpts: SpawnOptions = { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe", ...(opts.passFds ?? [])] };
    const child = spawn(cmd, args, spawnOpts);
    let stdout = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const keepTail = (s: string) => (s.length > max ? s.slice(s.length - max) : s);
    child.stdout!.setEncoding("utf8").on("data", (c: string) => {
      stdout = keepTail(stdout + c);
      opts.onOutput?.(c, "stdout");
    });
    child.stderr!.setEncoding("utf8").on("data", (c: string) => {
      stderr = keepTail(stderr + c);
      opts.onOutput?.(c, "stderr");
    });
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      const missing = err.code === "ENOENT";
      reject(
        new StrataError(
          "COMMAND_FAILED",
          missing ? `${cmd} is not installed (run scripts/setup-host.sh)` : `${cmd} could not start: ${err.message}`,
          { argv: [...argv] },
          { cause: err },
        ),
      );
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const exit = code ?? -1;
      if ((opts.okCodes ?? [0]).includes(exit) && !timedOut) {
        resolve({ stdout, stderr, code: exit });
        return;
      }
      const why = timedOut ? `timed out after ${opts.timeoutMs} ms` : signal ? `killed by ${signal}` : `exited ${exit}`;
      const tail = stderr.trim().split("\n").slice(-20).join("\n");
      reject(
        new StrataError("COMMAND_FAILED", `${argv.join(" ")} ${why}${tail ? `: ${tail}` : ""}`, {
          argv: [...argv],
          exitCode: exit,
          signal,
          stderr: tail,
        }),
      );
    });
    if (opts.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, opts.timeoutMs);
    }
    // A command may exit without reading its input (EPIPE): its exit status is what tells the caller.
    child.stdin!.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") reject(new StrataError("COMMAND_FAILED", `${cmd}: writing its input failed: ${err.message}`, { argv: [...argv] }, { cause: err }));
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

/** The absolute path of `cmd` on PATH (or `cmd` itself when it is an executable path), else null. */
export async function which(cmd: string): Promise<string | null> {
  const candidates = cmd.includes("/") ? [cmd] : (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":").map((d) => join(d, cmd));
  for (const c of candidates) {
    if (await access(c, constants.X_OK).then(() => true, () => false)) return c;
  }
  return null;
}

const osSignals = osConstants.signals;

export interface PassThroughOptions {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
  /** Aborting sends SIGTERM (a runtime's `exec` forwards it to the command it runs). */
  signal?: AbortSignal;
}

/**
 * Runs argv with its output handed on as it comes, unbuffered and as bytes, and resolves to its exit
 * status (128 + n when killed by signal n, as a shell reports it). For commands whose exit code is the
 * answer (`strata exec`), so no code counts as failure; only a command that cannot start throws.
 */
export function execPassThrough(argv: readonly string[], opts: PassThroughOptions): Promise<number> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new StrataError("INTERNAL", "execPassThrough called with an empty argv");
  return new Promise<number>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const onAbort = () => child.kill("SIGTERM");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.on("data", (c: Buffer) => opts.stdout(c));
    child.stderr.on("data", (c: Buffer) => opts.stderr(c));
    child.on("error", (err: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener("abort", onAbort);
      reject(new StrataError("COMMAND_FAILED", err.code === "ENOENT" ? `${cmd} is not installed (run scripts/setup-host.sh)` : `${cmd} could not start: ${err.message}`, { argv: [...argv] }, { cause: err }));
    });
    child.on("close", (code, signal) => {
      opts.signal?.removeEventListener("abort", onAbort);
      resolve(code ?? 128 + (signal ? osSignals[signal] : 0));
    });
  });
}
