import { copyBuffer } from "./body.js";
import { TextEncoder } from "./encoding.js";
import { console, reportError } from "./console.js";
import { Request, Response } from "./request-response.js";

/**
 * The engine's entry points into the isolate: install the worker module, dispatch one HTTP request
 * to its fetch handler, and wait for ctx.waitUntil work.
 */
export interface DispatchRequest {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body: ArrayBuffer | null;
}

export interface DispatchResponse {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: ArrayBuffer | null;
  /** ctx.waitUntil() promises are still running: the engine awaits idle() after responding. */
  pending: boolean;
}

type FetchHandler = (request: Request, env: unknown, ctx: unknown) => unknown;
let handler: { fetch: FetchHandler; self: object } | null = null;
let workerEnv: Record<string, unknown> = {};
const waits = new Set<Promise<unknown>>();

export function install(namespace: Record<string, unknown>, env: Record<string, unknown>): void {
  const worker = namespace["default"] as { fetch?: unknown } | undefined;
  if (!worker || typeof worker.fetch !== "function") {
    throw new TypeError("the worker module has no default export with a fetch(request, env, ctx) method");
  }
  handler = { fetch: worker.fetch as FetchHandler, self: worker };
  workerEnv = env;
}

function failure(status: number, text: string): DispatchResponse {
  const body = copyBuffer(new TextEncoder().encode(text));
  return { status, statusText: "", headers: [["content-type", "text/plain;charset=UTF-8"]], body, pending: waits.size > 0 };
}

export async function dispatch(req: DispatchRequest): Promise<DispatchResponse> {
  if (!handler) return failure(500, "worker not installed");
  const request = new Request(req.url, {
    method: req.method,
    headers: req.headers,
    body: req.method === "GET" || req.method === "HEAD" ? null : req.body,
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
  let bytes: Uint8Array;
  try {
    bytes = await res._consume();
  } catch (e) {
    reportError(e);
    return failure(500, "Internal Server Error");
  }
  return {
    status: res.status,
    statusText: res.statusText,
    headers: [...res.headers],
    body: bytes.length ? copyBuffer(bytes) : null,
    pending: waits.size > 0,
  };
}

/** Resolves once every ctx.waitUntil() promise has settled. */
export async function idle(): Promise<void> {
  while (waits.size) await Promise.allSettled([...waits]);
}

/**
 * Runs the request path once in a spare isolate, so its functions are compiled before the tenant's
 * first request instead of during it.
 */
export async function warmUp(): Promise<void> {
  const req = new Request("http://warm.up/path?q=1", { method: "POST", headers: [["x-warm", "1"]], body: new ArrayBuffer(1) });
  await req.text();
  const res = new Response("ok", { status: 200, headers: { "content-type": "text/plain" } });
  void [...res.headers, new URL(req.url).searchParams.get("q")];
  copyBuffer(await res._consume());
}
