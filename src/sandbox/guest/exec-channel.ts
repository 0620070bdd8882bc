import { randomBytes } from "node:crypto";
import { createConnection, type Socket } from "node:net";
import { z } from "zod";
import { StrataError } from "../../errors.js";
import type { ExecIO } from "../driver.js";

/**
 * The guest init's exec port (init/exec.go): a virtio-serial port (a Xen PV channel on Xen) whose host
 * end is a unix socket the VMM listens on. One session per connection, one connection at a time.
 */
export const EXEC_PORT = "strata.exec";

/** Guest -> host on the exec port, one JSON object a line, each with the session's id. */
const ExecEvent = z.discriminatedUnion("t", [
  z.object({ t: z.literal("started"), id: z.string() }),
  z.object({ t: z.literal("out"), id: z.string(), s: z.enum(["stdout", "stderr"]), d: z.string() }),
  z.object({ t: z.literal("exit"), id: z.string(), code: z.number().int(), error: z.string().optional() }),
]);
type ExecEvent = z.infer<typeof ExecEvent>;

/** Host -> guest on the exec port. */
export type ExecRequest = { readonly t: "exec"; readonly id: string; readonly argv: readonly string[] } | { readonly t: "kill"; readonly id: string };

export function encodeExecRequest(msg: ExecRequest): string {
  return `${JSON.stringify(msg)}\n`;
}

/** A line of the exec port, or null: not JSON, or not an event (the tail of a line an earlier session was cut in). */
export function parseExecEvent(line: string): ExecEvent | null {
  try {
    const parsed = ExecEvent.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export interface GuestExecOptions {
  /** How long the guest init has to answer a request (started, or why not) before it is taken for one without exec. */
  readonly answerMs?: number;
  /** After an abort, how long the killed command has to report its end. */
  readonly killMs?: number;
}

const ANSWER_MS = 10_000;
const KILL_MS = 5_000;
/** A line longer than this is no message of the protocol (output comes in 16 KiB chunks). */
const MAX_LINE = 1 << 20;

/**
 * `strata exec` into VM-class instances through their guest init's exec port. A port carries one
 * session at a time (QEMU's socket chardev serves one client), so the sessions of one instance are
 * queued here; an abort (ExecIO.signal) asks the guest to kill the command's process group.
 */
export class GuestExec {
  /** The last session queued per instance: the next one starts when it has ended. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: GuestExecOptions = {}) {}

  run(instanceId: string, socketPath: string, argv: readonly string[], io: ExecIO): Promise<number> {
    const previous = this.tails.get(instanceId) ?? Promise.resolve();
    const session = previous.then(() => {
      if (io.signal?.aborted) throw new StrataError("INSTANCE_FAILED", `the exec in ${instanceId} was abandoned before it started`, { instanceId });
      return this.session(instanceId, socketPath, argv, io);
    });
    const tail = session.catch(() => undefined); // a failed session does not hold the next one up
    this.tails.set(instanceId, tail);
    void tail.then(() => {
      if (this.tails.get(instanceId) === tail) this.tails.delete(instanceId);
    });
    return session;
  }

  private async session(instanceId: string, socketPath: string, argv: readonly string[], io: ExecIO): Promise<number> {
    const sock = await connectPort(instanceId, socketPath);
    const id = randomBytes(8).toString("hex");
    const answerMs = this.opts.answerMs ?? ANSWER_MS;
    const killMs = this.opts.killMs ?? KILL_MS;
    return new Promise<number>((resolve, reject) => {
      let pending: Buffer = Buffer.alloc(0);
      let settled = false;
      let killTimer: NodeJS.Timeout | undefined;
      const answerTimer = setTimeout(() => {
        fail(new StrataError(
          "SANDBOX_UNAVAILABLE",
          `the guest of instance ${instanceId} did not answer on its exec port within ${answerMs / 1000} s: its init predates strata exec (the instance runs an older initramfs; restart it, e.g. deploy again), or the guest is too busy to answer`,
          { instanceId },
        ));
      }, answerMs);
      const done = () => {
        settled = true;
        clearTimeout(answerTimer);
        clearTimeout(killTimer);
        io.signal?.removeEventListener("abort", onAbort);
        sock.destroy();
      };
      const fail = (err: Error) => {
        if (settled) return;
        done();
        reject(err);
      };
      const onAbort = () => {
        if (settled) return;
        sock.write(encodeExecRequest({ t: "kill", id }));
        killTimer = setTimeout(() => fail(new StrataError("INSTANCE_FAILED", `the command in ${instanceId} did not end within ${killMs} ms of being killed`, { instanceId })), killMs);
      };
      const onEvent = (e: ExecEvent) => {
        if (e.id !== id) return; // an earlier session's late output
        clearTimeout(answerTimer);
        if (e.t === "out") io[e.s](Buffer.from(e.d, "base64"));
        else if (e.t === "exit") {
          if (e.error) io.stderr(Buffer.from(`strata exec: ${e.error}\n`));
          done();
          resolve(e.code);
        }
      };
      sock.on("data", (chunk: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        for (let nl = pending.indexOf(10); nl >= 0 && !settled; nl = pending.indexOf(10)) {
          const event = parseExecEvent(pending.subarray(0, nl).toString("utf8"));
          pending = pending.subarray(nl + 1);
          if (event) onEvent(event);
        }
        if (pending.length > MAX_LINE) fail(new StrataError("DRIVER_FAILED", `instance ${instanceId}'s exec port sent a line of over ${MAX_LINE} bytes`, { instanceId }));
      });
      sock.once("close", () => fail(new StrataError("INSTANCE_FAILED", `instance ${instanceId}'s exec port closed before the command's exit code came (the VM ended?)`, { instanceId })));
      sock.on("error", (err) => fail(new StrataError("DRIVER_FAILED", `instance ${instanceId}'s exec port: ${err.message}`, { instanceId }, { cause: err })));
      io.signal?.addEventListener("abort", onAbort, { once: true });
      sock.write(encodeExecRequest({ t: "exec", id, argv }));
      if (io.signal?.aborted) onAbort();
    });
  }
}

/** Connects to the VMM's end of the port; a VM that has none was started before exec reached VMs. */
async function connectPort(instanceId: string, socketPath: string): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const sock = createConnection(socketPath);
    sock.once("connect", () => resolve(sock));
    sock.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
        reject(new StrataError(
          "SANDBOX_UNAVAILABLE",
          `instance ${instanceId} has no exec port: its VM was started by a Strata from before strata exec reached VMs; restart it (e.g. deploy again) to exec into it`,
          { instanceId },
          { cause: err },
        ));
      } else reject(new StrataError("DRIVER_FAILED", `instance ${instanceId}'s exec port ${socketPath}: ${err.message}`, { instanceId }, { cause: err }));
    });
  });
}
