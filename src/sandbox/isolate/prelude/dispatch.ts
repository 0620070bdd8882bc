import { concat, copyBuffer } from "./blob.js";
import { TextEncoder, toBytes } from "./encoding.js";
import { console, inspect, reportError } from "./console.js";
import { host, type UrlParts } from "./host.js";
import { KVNamespace } from "./kv.js";
import { attach } from "./websocket.js";
import { Request, Response } from "./request-response.js";
import { ReadableStream, type ReadableStreamDefaultReader } from "./streams.js";
import { rememberParsed } from "./url.js";

/**
 * The engine's entry points into the isolate: install the worker module, dispatch one HTTP request
 * to its fetch handler, read a streamed response body chunk by chunk, and wait for ctx.waitUntil work.
 */
export interface DispatchRequest {
  method: string;
  /** The request URL, normalised by the engine. */
  url: string;
  /** Its parts, when this isolate has not been sent them lately (saves parsing it with a call out). */
  urlParts: UrlParts | null;
  headers: Array<[string, string]>;
  /** The whole body, when the client had sent all of it before the worker was called. */
  body: ArrayBuffer | null;
  /** Else the id of the request body, which `request.body` reads from the engine as the worker pulls. */
  bodyStream: number | null;
}

export interface DispatchResponse {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  /** The whole body, when the Response held its bytes. */
  body: ArrayBuffer | null;
  /** Else the id of its body stream, which the engine reads with read(id) as the client takes it. */
  stream: number | null;
  /** ctx.waitUntil() promises are still running: the engine awaits idle() after responding. */
  pending: boolean;
  /** A 101 that hands over a WebSocket: the engine's connection id for it (see websocket.ts). */
  webSocket: number | null;
}

/**
 * One step of a streamed body: a chunk (a bare ArrayBuffer: copying one out of the isolate costs a
 * fraction of copying an object that holds it), its end, or why it failed.
 */
export type ReadResult = ArrayBuffer | { done: true; pending: boolean } | { error: string };

type FetchHandler = (request: Request, env: unknown, ctx: unknown) => unknown;
let handler: { fetch: FetchHandler; self: object } | null = null;
let workerEnv: Record<string, unknown> = {};
const waits = new Set<Promise<unknown>>();
const bodies = new Map<number, BodyReader>();
let nextBody = 1;

/** Installs the worker with its env: vars, and one KVNamespace per name in `kv` (the engine's store of that index). */
export function install(namespace: Record<string, unknown>, env: Record<string, unknown>, kv: string[] = []): void {
  const worker = namespace["default"] as { fetch?: unknown } | undefined;
  if (!worker || typeof worker.fetch !== "function") {
    throw new TypeError("the worker module has no default export with a fetch(request, env, ctx) method");
  }
  handler = { fetch: worker.fetch as FetchHandler, self: worker };
  kv.forEach((binding, i) => (env[binding] = new KVNamespace(i)));
  workerEnv = env;
}

function failure(status: number, text: string): DispatchResponse {
  const body = copyBuffer(new TextEncoder().encode(text));
  return { status, statusText: "", headers: [["content-type", "text/plain;charset=UTF-8"]], body, stream: null, pending: waits.size > 0, webSocket: null };
}

export async function dispatch(req: DispatchRequest): Promise<DispatchResponse> {
  if (!handler) return failure(500, "worker not installed");
  if (req.urlParts) rememberParsed(req.urlParts);
  const request = new Request(req.url, {
    method: req.method,
    headers: req.headers,
    body: req.method === "GET" || req.method === "HEAD" ? null : req.bodyStream !== null ? requestBodyStream(req.bodyStream) : req.body,
    cf: {},
  });
  const ctx = {
    waitUntil(p: unknown): void {
      const w: Promise<unknown> = Promise.resolve(p).catch(reportError).finally(() => waits.delete(w));
      waits.add(w);
    },
    passThroughOnException(): void {
      // there is no origin behind a Strata worker to pass through to; errors become a 500
    },
  };
  let res: unknown;
  try {
    res = await handler.fetch.call(handler.self, request, workerEnv, ctx);
  } catch (e) {
    reportError(e);
    return failure(500, "Internal Server Error");
  }
  if (!(res instanceof Response)) {
    console.error(`the fetch handler returned ${res === null ? "null" : typeof res}, not a Response`);
    return failure(500, "Internal Server Error");
  }
  if (res.webSocket) {
    const webSocket = attach(res.webSocket);
    return { status: 101, statusText: res.statusText, headers: [...res.headers], body: null, stream: null, pending: waits.size > 0, webSocket };
  }
  let body: Uint8Array | ReadableStream | null;
  try {
    body = res._take();
  } catch (e) {
    reportError(e);
    return failure(500, "Internal Server Error");
  }
  // Plain object literals, no spreads: this object is copied out of the isolate on every request.
  const headers = [...res.headers];
  if (body instanceof ReadableStream) {
    let stream: number | null = null;
    if (req.method === "HEAD") {
      body.cancel("HEAD request: the body is not sent").catch(reportError);
    } else {
      stream = nextBody++;
      bodies.set(stream, { reader: body.getReader(), next: null });
    }
    return { status: res.status, statusText: res.statusText, headers, body: null, stream, pending: waits.size > 0, webSocket: null };
  }
  const bytes = body?.length ? copyBuffer(body) : null;
  return { status: res.status, statusText: res.statusText, headers, body: bytes, stream: null, pending: waits.size > 0, webSocket: null };
}

/**
 * A request body read from the engine chunk by chunk. No highWaterMark: the engine is asked for bytes
 * only when the worker reads, so the client is held back (not buffered) while the worker is busy.
 */
function requestBodyStream(id: number): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const bytes = await host.readBody(id);
      if (bytes === null) c.close();
      else c.enqueue(new Uint8Array(bytes));
    },
    cancel() {
      host.cancelBody(id);
    },
  }, { highWaterMark: 0 });
}

/** A streamed body being sent: its reader, and a read begun for the last call that it did not wait for. */
interface BodyReader {
  readonly reader: ReadableStreamDefaultReader<unknown>;
  next: Promise<ReadableStreamReadResult> | null;
  /** The stream failed after bytes that went out first: reported by the next call. */
  failed?: { error: unknown };
}
type ReadableStreamReadResult = { done: false; value: unknown } | { done: true; value: undefined };

/** Bytes one read() hands over at most: fewer, larger trips out of the isolate cost less CPU. */
const READ_BATCH_BYTES = 64 * 1024;
/** How many microtask turns read() waits for a further chunk once it has one (a pull() settles in a few). */
const READ_MORE_TURNS = 8;
const NOT_YET = Symbol("not yet");

function within<T>(p: Promise<T>, turns: number): Promise<T | typeof NOT_YET> {
  let tick: Promise<typeof NOT_YET> = Promise.resolve(NOT_YET);
  for (let i = 1; i < turns; i++) tick = tick.then((v) => v);
  return Promise.race([p, tick]);
}

/**
 * The next bytes of body stream `id`: the chunks the stream has ready, up to READ_BATCH_BYTES (at least
 * one chunk, waiting for it). The stream is forgotten once it ends or fails.
 */
export async function read(id: number): Promise<ReadResult> {
  const body = bodies.get(id);
  if (!body) return { error: "the response body stream is gone" };
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    if (body.failed) throw body.failed.error;
    while (size < READ_BATCH_BYTES) {
      const pending = body.next ?? (body.reader.read() as Promise<ReadableStreamReadResult>);
      body.next = null;
      const r = size ? await within(pending, READ_MORE_TURNS) : await pending;
      if (r === NOT_YET) {
        body.next = pending;
        break;
      }
      if (r.done) {
        if (size) {
          body.next = pending; // the end goes out with the next call, after these bytes
          break;
        }
        bodies.delete(id);
        return { done: true, pending: waits.size > 0 };
      }
      const v = r.value;
      if (typeof v !== "string" && !(v instanceof ArrayBuffer) && !ArrayBuffer.isView(v)) {
        throw new TypeError(`the response body stream produced ${inspect(v)}, not bytes (Uint8Array) or a string`);
      }
      const bytes = typeof v === "string" ? new TextEncoder().encode(v) : toBytes(v);
      parts.push(bytes);
      size += bytes.length;
    }
  } catch (e) {
    if (size && !body.failed) {
      body.failed = { error: e };
    } else {
      bodies.delete(id);
      body.reader.cancel(e).catch(() => undefined); // the source learns it will not be read further; it already failed
      return { error: e instanceof Error ? `${e.name}: ${e.message}` : inspect(e) };
    }
  }
  const bytes = parts.length === 1 ? parts[0]! : concat(parts);
  // The engine copies the result out of the isolate: a chunk that fills its buffer needs no copy of its own.
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  return whole ? (bytes.buffer as ArrayBuffer) : copyBuffer(bytes);
}

/** The client went away: cancels body stream `id`, so the worker's source stops producing. */
export function cancel(id: number, reason: string): void {
  const body = bodies.get(id);
  if (!body) return;
  bodies.delete(id);
  body.reader.cancel(new TypeError(reason)).catch(reportError);
}

let abandoned: () => void = () => undefined;

/** Resolves once every ctx.waitUntil() promise has settled, or abandonWaits() is called. */
export async function idle(): Promise<void> {
  const stop = new Promise<"stop">((resolve) => {
    const before = abandoned;
    abandoned = () => {
      before();
      resolve("stop");
    };
  });
  while (waits.size) {
    if ((await Promise.race([Promise.allSettled([...waits]), stop])) === "stop") return;
  }
}

/** The waitUntil time limit passed: the promises still running are no longer waited for. */
export function abandonWaits(): void {
  waits.clear();
  const a = abandoned;
  abandoned = () => undefined;
  a();
}

/**
 * Runs the request path (dispatch, a whole body and a streamed one) once in a spare isolate with a
 * stand-in handler, so that its functions are compiled before the tenant's first request instead of
 * during it. The spare then has no handler until the tenant's install().
 */
export async function warmUp(): Promise<void> {
  const href = "http://warm.up/path?q=1";
  const url: UrlParts = {
    href, origin: "http://warm.up", protocol: "http:", username: "", password: "", host: "warm.up",
    hostname: "warm.up", port: "", pathname: "/path", search: "?q=1", hash: "",
  };
  handler = {
    self: {},
    fetch: async (req: Request) => {
      const text = await req.text();
      const q = new URL(req.url).searchParams.get("q");
      if (q === "stream") return new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(text)); c.close(); } }));
      return new Response(`${text}${q}`, { headers: { "content-type": "text/plain" } });
    },
  };
  try {
    const req = { method: "POST", url: href, urlParts: url, headers: [["x-warm", "1"]] as Array<[string, string]>, body: new ArrayBuffer(1), bodyStream: null };
    await dispatch(req);
    const streamHref = `${href.split("?")[0]}?q=stream`;
    const streamed = await dispatch({ ...req, url: streamHref, urlParts: { ...url, href: streamHref, search: "?q=stream" } });
    if (streamed.stream !== null) while ((await read(streamed.stream)) instanceof ArrayBuffer);
  } finally {
    handler = null;
  }
}
