import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { StrataError } from "../../errors.js";
import type { EngineEvent, EngineMessage, EngineReply, EngineRequest } from "./protocol.js";

type Request = EngineRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export interface EngineClientOptions {
  /** A log line from a tenant. */
  onLog(event: EngineEvent): void;
  /** The engine process ended (every tenant in it is gone). */
  onExit(code: number | null, signal: NodeJS.Signals | null): void;
  /** A line the engine process itself wrote to stderr. */
  onEngineOutput(line: string): void;
}

const START_TIMEOUT_MS = 15_000;

/** The argv that runs the engine: compiled JS as is, TypeScript sources through tsx. */
export function engineArgv(): string[] {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  const entry = fileURLToPath(new URL(`./engine/main${ext}`, import.meta.url));
  const loader = ext === ".ts" ? ["--import", pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href] : [];
  // isolated-vm needs --no-node-snapshot on Node >= 20.
  return [process.execPath, "--no-node-snapshot", ...loader, entry];
}

/** One running engine process and the request/reply channel to it. */
export class EngineClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private exited = false;

  private constructor(readonly child: ChildProcess) {}

  get pid(): number { return this.child.pid ?? -1; }
  get alive(): boolean { return !this.exited; }

  static async spawn(opts: EngineClientOptions): Promise<EngineClient> {
    const [cmd, ...args] = engineArgv();
    // A long-running child that talks over an IPC channel: exec() runs commands to completion and
    // has no IPC, so this is node's spawn with an argv array.
    const child = spawn(cmd!, args, { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    const client = new EngineClient(child);
    let pending = "";
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const l of lines) opts.onEngineOutput(l);
    });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StrataError("DRIVER_FAILED", `the isolate engine did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.on("message", (msg: EngineMessage) => {
        if ("event" in msg) {
          opts.onLog(msg);
          return;
        }
        if (msg.id === 0) {
          clearTimeout(timer);
          resolve();
          return;
        }
        client.settle(msg);
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        client.exited = true;
        const err = new StrataError("DRIVER_FAILED", `the isolate engine exited (${signal ?? `code ${code}`})${pending ? `: ${pending}` : ""}`);
        for (const w of client.waiting.values()) w.reject(err);
        client.waiting.clear();
        reject(err);
        opts.onExit(code, signal);
      });
      child.on("error", (err) => reject(new StrataError("DRIVER_FAILED", `the isolate engine could not start: ${err.message}`, undefined, { cause: err })));
    });
    try {
      await ready;
    } catch (err) {
      client.kill();
      throw err;
    }
    return client;
  }

  private settle(msg: EngineReply): void {
    const w = this.waiting.get(msg.id);
    if (!w) return;
    this.waiting.delete(msg.id);
    if (msg.ok) w.resolve(msg.result);
    else w.reject(new StrataError("INSTANCE_FAILED", msg.error));
  }

  request(req: Request): Promise<unknown> {
    if (this.exited) return Promise.reject(new StrataError("DRIVER_FAILED", "the isolate engine is not running"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ ...req, id } as EngineRequest);
    });
  }

  /** Ends the engine: closing IPC makes it stop every tenant and exit; SIGKILL if it does not. */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.disconnect();
    const timer = setTimeout(() => this.kill(), timeoutMs);
    await gone;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.exited) this.child.kill("SIGKILL");
  }
}
