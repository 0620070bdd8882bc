import http from "node:http";
import type { Readable } from "node:stream";
import { StrataError } from "../../errors.js";

/** LXD's response envelope (doc: REST API, "Return values"). */
interface Envelope {
  type: "sync" | "async" | "error";
  status_code?: number;
  error_code?: number;
  error?: string;
  operation?: string;
  metadata: unknown;
}

/** An operation's record (GET /1.0/operations/{id}); `err` is set when it failed. */
export interface Operation {
  id: string;
  status: string;
  status_code: number;
  err: string;
  metadata: Record<string, unknown> | null;
}

/**
 * A small typed client for LXD's REST API over its unix socket (no `lxc` CLI output is parsed). Sync
 * answers return their metadata; async ones return the operation, which wait() follows to its end
 * through /1.0/operations/{id}/wait. LXD's error answers become DRIVER_FAILED with LXD's message.
 */
export class LxdClient {
  constructor(readonly socketPath: string) {}

  async get<T>(path: string): Promise<T> {
    return (await this.call("GET", path)).metadata as T;
  }

  /** The raw body of a file-like endpoint (console log, exec output). */
  async text(path: string): Promise<string> {
    const res = await this.send("GET", path);
    const body = await readBody(res);
    if ((res.statusCode ?? 500) >= 400) throw lxdError("GET", path, body);
    return body;
  }

  /** A sync request; returns the metadata. */
  async sync<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.call(method, path, body)).metadata as T;
  }

  /** An async request, waited for: the finished operation (throws with LXD's `err` when it failed). */
  async run(method: string, path: string, body?: unknown | Readable, timeoutS = 120): Promise<Operation> {
    const envelope = await this.call(method, path, body);
    if (envelope.type !== "async" || !envelope.operation) throw new StrataError("DRIVER_FAILED", `LXD answered ${method} ${path} without an operation`);
    return this.wait(envelope.operation, timeoutS, `${method} ${path}`);
  }

  /** An async request, not waited for: its operation's path and record (e.g. exec's websocket secrets). */
  async begin(method: string, path: string, body?: unknown): Promise<{ path: string; operation: Operation }> {
    const envelope = await this.call(method, path, body);
    if (envelope.type !== "async" || !envelope.operation) throw new StrataError("DRIVER_FAILED", `LXD answered ${method} ${path} without an operation`);
    return { path: envelope.operation, operation: envelope.metadata as Operation };
  }

  async wait(operation: string, timeoutS: number, what: string): Promise<Operation> {
    const op = await this.get<Operation>(`${operation}/wait?timeout=${timeoutS}`);
    if (op.status_code >= 400 || op.err) throw new StrataError("DRIVER_FAILED", `LXD: ${what} failed: ${op.err || op.status}`, { operation });
    if (op.status_code < 200) throw new StrataError("DRIVER_FAILED", `LXD: ${what} did not finish within ${timeoutS} s`, { operation });
    return op;
  }

  /** true when the socket answers GET /1.0. */
  async alive(): Promise<boolean> {
    return this.get("/1.0").then(
      () => true,
      () => false,
    );
  }

  private async call(method: string, path: string, body?: unknown): Promise<Envelope> {
    const res = await this.send(method, path, body);
    const text = await readBody(res);
    let envelope: Envelope;
    try {
      envelope = JSON.parse(text) as Envelope;
    } catch {
      throw lxdError(method, path, text);
    }
    if (envelope.type === "error" || (res.statusCode ?? 500) >= 400) throw lxdError(method, path, envelope.error ?? text, envelope.error_code ?? res.statusCode);
    return envelope;
  }

  private send(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const stream = body !== undefined && typeof (body as Readable).pipe === "function" ? (body as Readable) : undefined;
      const json = body !== undefined && !stream ? JSON.stringify(body) : undefined;
      const headers: Record<string, string> = stream ? { "content-type": "application/octet-stream" } : json ? { "content-type": "application/json" } : {};
      const req = http.request({ socketPath: this.socketPath, path, method, headers, host: "lxd" }, resolve);
      req.on("error", (err) => reject(new StrataError("DRIVER_FAILED", `LXD at ${this.socketPath} is not answering: ${err.message}`, undefined, { cause: err })));
      if (stream) {
        stream.on("error", (err) => req.destroy(err));
        stream.pipe(req);
      } else req.end(json);
    });
  }
}

async function readBody(res: http.IncomingMessage): Promise<string> {
  res.setEncoding("utf8");
  let text = "";
  for await (const chunk of res) text += chunk as string;
  return text;
}

function lxdError(method: string, path: string, message: string, code?: number): StrataError {
  return new StrataError("DRIVER_FAILED", `LXD: ${method} ${path}: ${message.trim().slice(0, 500)}`, { status: code });
}

/** LXD's 404 (an instance or image that is not there). */
export function isNotFound(err: unknown): boolean {
  return err instanceof StrataError && err.details?.status === 404;
}
