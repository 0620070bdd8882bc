import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { StrataError } from "../errors.js";
import { closeServer, listenOn } from "../system/http-server.js";

/**
 * Lambda's Runtime API, version 2018-06-01, as AWS publishes it (the OpenAPI document in the docs'
 * runtime-api.zip): GET runtime/invocation/next, POST runtime/invocation/{id}/response and /error, POST
 * runtime/init/error, with its status codes (200/202, 400, 403, 413, 500) and its bodies (StatusResponse
 * `{status}`, ErrorResponse `{errorMessage, errorType}`). One server serves every instance; an instance is
 * known by the address it connects from (its own netns or VM address, which it cannot change), so each
 * reaches only its own invocations, as each Lambda execution environment has its own endpoint.
 */
export const RUNTIME_API_VERSION = "2018-06-01";
/** Lambda's synchronous response limit: 6 MB. */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

export interface Invocation {
  requestId: string;
  payload: Buffer;
  /** Unix ms. */
  deadlineMs: number;
  functionArn: string;
  traceId: string;
  /** Base64 JSON, as the mobile SDK sends it; only sent to the runtime when present. */
  clientContext?: string;
  cognitoIdentity?: string;
}

export type InvocationResult =
  | { kind: "response"; body: Buffer; contentType: string | undefined }
  /** `errorType`: the Lambda-Runtime-Function-Error-Type header; the body is the runtime's ErrorRequest. */
  | { kind: "error"; errorType: string | undefined; body: Buffer };

export interface InitError {
  errorType: string | undefined;
  body: Buffer;
}

interface InFlight {
  invocation: Invocation;
  resolve: (r: InvocationResult) => void;
  reject: (err: Error) => void;
}

/** One execution environment as the Runtime API sees it. */
export class RuntimeChannel {
  readonly createdAt = Date.now();
  /** When the runtime first asked for an invocation: its init phase ended. */
  initializedAt: number | undefined;
  /** Invocations it has been given; 0 until the first (which carries the init duration). */
  invocations = 0;
  private waiting: ServerResponse | undefined;
  private queued: InFlight | undefined;
  private current: InFlight | undefined;
  private initWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private initFailure: InitError | undefined;
  private gone: Error | undefined;

  /** Resolves once the runtime has finished its init (its first GET next); rejects on an init error or its end. */
  initialized(): Promise<void> {
    if (this.initializedAt !== undefined) return Promise.resolve();
    if (this.initFailure) return Promise.reject(initErrorOf(this.initFailure));
    if (this.gone) return Promise.reject(this.gone);
    return new Promise((resolve, reject) => this.initWaiters.push({ resolve, reject }));
  }

  /** Hands one invocation to the runtime (one at a time, as Lambda does) and resolves with what it posts. */
  invoke(invocation: Invocation): Promise<InvocationResult> {
    if (this.gone) return Promise.reject(this.gone);
    if (this.queued || this.current) return Promise.reject(new StrataError("INTERNAL", "an execution environment runs one invocation at a time"));
    return new Promise((resolve, reject) => {
      this.queued = { invocation, resolve, reject };
      this.deliver();
    });
  }

  /** The caller gave up on this invocation (timeout): a late response is refused as an unknown request id. */
  abandon(requestId: string): void {
    if (this.current?.invocation.requestId === requestId) this.current = undefined;
    if (this.queued?.invocation.requestId === requestId) this.queued = undefined;
  }

  /** The environment ended: its waiting poll is closed, its invocation fails with `why`. */
  close(why: Error): void {
    this.gone = why;
    for (const w of this.initWaiters.splice(0)) w.reject(why);
    for (const f of [this.queued, this.current]) f?.reject(why);
    this.queued = this.current = undefined;
    if (this.waiting && !this.waiting.writableEnded) this.waiting.destroy();
    this.waiting = undefined;
  }

  // ---- the runtime's side ----

  next(res: ServerResponse): void {
    if (this.current) {
      // The spec's iterator contract: the runtime must answer the invocation it holds before asking again.
      return sendError(res, 403, "InvalidStateTransition", `invocation ${this.current.invocation.requestId} has no response yet; POST its response or error first`);
    }
    if (this.waiting && !this.waiting.writableEnded) return sendError(res, 403, "InvalidStateTransition", "another GET /runtime/invocation/next from this environment is already waiting");
    if (this.initializedAt === undefined) {
      this.initializedAt = Date.now();
      for (const w of this.initWaiters.splice(0)) w.resolve();
    }
    this.waiting = res;
    res.once("close", () => {
      if (this.waiting === res) this.waiting = undefined;
    });
    this.deliver();
  }

  /** The runtime's answer to the invocation it holds; false when `requestId` is not that invocation. */
  complete(requestId: string, result: InvocationResult): boolean {
    if (!this.current || this.current.invocation.requestId !== requestId) return false;
    const done = this.current;
    this.current = undefined;
    done.resolve(result);
    return true;
  }

  initError(err: InitError, res: ServerResponse): void {
    if (this.initializedAt !== undefined) return sendError(res, 403, "InvalidStateTransition", "init/error after the runtime asked for an invocation; use /invocation/{id}/error");
    this.initFailure = err;
    const e = initErrorOf(err);
    for (const w of this.initWaiters.splice(0)) w.reject(e);
    sendJson(res, 202, { status: "OK" });
  }

  private deliver(): void {
    const res = this.waiting;
    const q = this.queued;
    if (!res || !q || res.writableEnded) return;
    this.waiting = undefined;
    this.queued = undefined;
    this.current = q;
    this.invocations++;
    const inv = q.invocation;
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": inv.payload.length,
      "lambda-runtime-aws-request-id": inv.requestId,
      "lambda-runtime-deadline-ms": String(inv.deadlineMs),
      "lambda-runtime-invoked-function-arn": inv.functionArn,
      "lambda-runtime-trace-id": inv.traceId,
      ...(inv.clientContext !== undefined && { "lambda-runtime-client-context": inv.clientContext }),
      ...(inv.cognitoIdentity !== undefined && { "lambda-runtime-cognito-identity": inv.cognitoIdentity }),
    });
    res.end(inv.payload);
  }
}

/** What the runtime posted to init/error, as the error the instance's start fails with. */
export function initErrorOf(err: InitError): StrataError {
  let detail = err.body.toString("utf8");
  try {
    const parsed = JSON.parse(detail) as { errorType?: string; errorMessage?: string };
    detail = `${parsed.errorType ?? err.errorType ?? "Runtime.Unknown"}: ${parsed.errorMessage ?? ""}`;
  } catch {
    // Not JSON: the spec lets runtimes post any body; it is shown as it came.
  }
  return new StrataError("INSTANCE_FAILED", `the function's init failed (${detail.trim()})`, { errorType: err.errorType ?? "Runtime.Unknown", body: err.body.toString("utf8") });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, errorType: string, errorMessage: string): void {
  sendJson(res, status, { errorMessage, errorType });
}

const PREFIX = `/${RUNTIME_API_VERSION}/runtime/`;
const INVOCATION_POST = /^invocation\/([^/]+)\/(response|error)$/;

export interface RuntimeApiOptions {
  maxResponseBytes?: number;
}

/** The Runtime API server: one per daemon, one channel per execution environment (by its address). */
export class RuntimeApiServer {
  private readonly channels = new Map<string, RuntimeChannel>();
  private server: http.Server | undefined;
  private readonly maxResponseBytes: number;
  /** host:port as AWS_LAMBDA_RUNTIME_API carries it. */
  address: string | undefined;

  constructor(opts: RuntimeApiOptions = {}) {
    this.maxResponseBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  }

  async listen(port: number, host: string): Promise<string> {
    const server = http.createServer({ keepAlive: true, keepAliveTimeout: 0, requestTimeout: 0 }, (req, res) => this.handle(req, res));
    // GET next blocks for as long as no invocation comes: no server-side timeout may cut it.
    server.headersTimeout = 60_000;
    server.timeout = 0;
    this.server = server;
    const bound = await listenOn(server, port, host);
    this.address = `${host}:${bound}`;
    return this.address;
  }

  async close(): Promise<void> {
    for (const c of this.channels.values()) c.close(new StrataError("INSTANCE_FAILED", "the daemon is shutting down", { retryAfterS: 5 }));
    this.channels.clear();
    await closeServer(this.server);
  }

  /** The channel of the environment at `address`, made on first use (its runtime may call before anyone asks). */
  channel(address: string): RuntimeChannel {
    let c = this.channels.get(address);
    if (!c) {
      c = new RuntimeChannel();
      this.channels.set(address, c);
    }
    return c;
  }

  /** The environment at `address` ended: its invocation fails with `why`, and the address may be reused. */
  forget(address: string, why: Error): void {
    const c = this.channels.get(address);
    if (!c) return;
    this.channels.delete(address);
    c.close(why);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const from = normalizeAddress(req.socket.remoteAddress);
    const path = (req.url ?? "").split("?")[0]!;
    if (!from || !path.startsWith(PREFIX)) return sendError(res, 404, "NotFound", `unknown path ${path}; this is Lambda's Runtime API ${RUNTIME_API_VERSION}`);
    const rest = path.slice(PREFIX.length);
    const channel = this.channel(from);
    if (rest === "invocation/next") {
      if (req.method !== "GET") return sendError(res, 405, "MethodNotAllowed", "use GET for invocation/next");
      req.resume();
      return channel.next(res);
    }
    if (req.method !== "POST") return sendError(res, 405, "MethodNotAllowed", `use POST for ${rest}`);
    const errorType = headerOf(req, "lambda-runtime-function-error-type");
    const post = INVOCATION_POST.exec(rest);
    if (!post && rest !== "init/error") return sendError(res, 404, "NotFound", `unknown path ${path}`);
    readBody(req, this.maxResponseBytes).then(
      (body) => {
        if (!post) return channel.initError({ errorType, body }, res);
        const requestId = decodeURIComponent(post[1]!);
        const result: InvocationResult = post[2] === "response" ? { kind: "response", body, contentType: headerOf(req, "content-type") } : { kind: "error", errorType, body };
        if (!channel.complete(requestId, result)) return sendError(res, 400, "InvalidRequestID", `no invocation ${requestId} is in progress in this environment`);
        sendJson(res, 202, { status: "OK" });
      },
      (err: Error) => {
        if (err instanceof TooLarge && post) {
          const requestId = decodeURIComponent(post[1]!);
          // Lambda answers 413 and fails the invocation with its own error.
          const message = `Response payload size exceeded maximum allowed payload size (${this.maxResponseBytes} bytes).`;
          const errorBody = Buffer.from(JSON.stringify({ errorMessage: message, errorType: "Function.ResponseSizeTooLarge" }));
          if (!channel.complete(requestId, { kind: "error", errorType: "Function.ResponseSizeTooLarge", body: errorBody })) {
            return sendError(res, 400, "InvalidRequestID", `no invocation ${requestId} is in progress in this environment`);
          }
          return sendError(res, 413, "RequestEntityTooLarge", message);
        }
        if (!res.headersSent) sendError(res, 400, "InvalidRequest", err.message);
      },
    );
  }
}

class TooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true; // keep reading (and dropping) so the 413 reaches the runtime
      else chunks.push(c);
    });
    req.on("end", () => (over ? reject(new TooLarge()) : resolve(Buffer.concat(chunks))));
    req.on("error", reject);
  });
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `::ffff:10.0.0.2` and `10.0.0.2` are one address. */
export function normalizeAddress(a: string | undefined): string | undefined {
  return a?.startsWith("::ffff:") ? a.slice(7) : a;
}
