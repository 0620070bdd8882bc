import { createConnection, type Socket } from "node:net";
import { StrataError } from "../../errors.js";

/**
 * The QMP commands Strata sends (QEMU's qapi schema: qapi/control.json, run-state.json, migration.json),
 * with their arguments and return types. Anything else cannot be sent: no command strings are built.
 */
export interface QmpCommands {
  qmp_capabilities: { args: Record<string, never>; ret: Record<string, never> };
  /** ACPI power button (a full machine's graceful stop; the guest decides what it means). */
  system_powerdown: { args: Record<string, never>; ret: Record<string, never> };
  "query-status": { args: Record<string, never>; ret: { running: boolean; status: string } };
  stop: { args: Record<string, never>; ret: Record<string, never> };
  cont: { args: Record<string, never>; ret: Record<string, never> };
  quit: { args: Record<string, never>; ret: Record<string, never> };
  migrate: { args: { uri: string }; ret: Record<string, never> };
  "migrate-set-parameters": { args: { "max-bandwidth"?: number }; ret: Record<string, never> };
  migrate_cancel: { args: Record<string, never>; ret: Record<string, never> };
  "migrate-set-capabilities": { args: { capabilities: Array<{ capability: string; state: boolean }> }; ret: Record<string, never> };
  "query-migrate": { args: Record<string, never>; ret: { status?: string; "error-desc"?: string } };
}

export interface QmpEvent {
  readonly event: string;
  readonly data?: Record<string, unknown>;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/**
 * A QMP client over QEMU's unix socket (docs/interop/qmp-spec: a greeting, `qmp_capabilities` to leave
 * negotiation mode, then one JSON object per line each way; replies carry the request's `id`).
 */
export class QmpClient {
  private buffer = "";
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(e: QmpEvent) => void>();
  private greeted: Promise<void>;
  private closed: Error | undefined;

  private constructor(private readonly socket: Socket) {
    let greet!: () => void;
    let fail!: (e: Error) => void;
    this.greeted = new Promise<void>((res, rej) => ((greet = res), (fail = rej)));
    this.greeted.catch(() => undefined); // connect() awaits it only after the socket connected; an earlier failure is its connect error
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (line) this.onMessage(JSON.parse(line) as Record<string, unknown>, greet);
      }
    });
    const end = (err: Error) => {
      this.closed = err;
      fail(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    socket.on("error", (err) => end(new StrataError("INSTANCE_FAILED", `QMP: ${err.message}`)));
    socket.on("close", () => end(new StrataError("INSTANCE_FAILED", "QMP: the VMM closed its control socket")));
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const socket = createConnection(path);
    const client = new QmpClient(socket);
    const timer = setTimeout(() => socket.destroy(new Error(`no QMP greeting within ${timeoutMs} ms`)), timeoutMs);
    try {
      await new Promise<void>((res, rej) => {
        socket.once("connect", res);
        socket.once("error", rej);
      });
      await client.greeted;
      await client.execute("qmp_capabilities", {});
      return client;
    } catch (err) {
      socket.destroy();
      throw new StrataError("INSTANCE_FAILED", `QMP socket ${path}: ${(err as Error).message}`, undefined, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  execute<C extends keyof QmpCommands>(command: C, args: QmpCommands[C]["args"]): Promise<QmpCommands[C]["ret"]> {
    if (this.closed) return Promise.reject(this.closed);
    const id = String(this.nextId++);
    const msg = Object.keys(args).length ? { execute: command, arguments: args, id } : { execute: command, id };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Calls `fn` with every asynchronous event (SHUTDOWN, STOP, MIGRATION, ...); returns the unsubscriber. */
  onEvent(fn: (e: QmpEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Resolves once the connection has ended: QEMU exited (or close() was called). */
  ended(): Promise<void> {
    if (this.socket.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once("close", () => resolve()));
  }

  private onMessage(msg: Record<string, unknown>, greet: () => void): void {
    if ("QMP" in msg) return greet();
    if (typeof msg.event === "string") {
      for (const l of this.listeners) l(msg as unknown as QmpEvent);
      return;
    }
    const id = String(msg.id ?? "");
    const p = this.pending.get(id);
    if (!p) return; // a reply to nobody: not ours (QMP only replies with the id it was given)
    this.pending.delete(id);
    if ("error" in msg) {
      const e = msg.error as { class?: string; desc?: string };
      p.reject(new StrataError("INSTANCE_FAILED", `QMP ${e.class ?? "error"}: ${e.desc ?? "unknown"}`));
    } else p.resolve(msg.return);
  }
}
