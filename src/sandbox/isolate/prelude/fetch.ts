import { host } from "./host.js";
import { copyBuffer } from "./blob.js";
import { Request, Response, type RequestInit } from "./request-response.js";
import { DOMException } from "./encoding.js";
import type { AbortSignal } from "./events.js";
import { ReadableStream } from "./streams.js";
import type { URL } from "./url.js";

/** fetch(): the engine makes the request (and refuses private, link-local and loopback addresses). */
export async function fetch(input: Request | string | URL, init?: RequestInit): Promise<Response> {
  const req = new Request(input, init);
  req.signal.throwIfAborted();
  const body = req.body === null ? null : copyBuffer(await req.bytes());
  const sent = host.fetch({ url: req.url, method: req.method, headers: [...req.headers], body, redirect: req.redirect });
  const aborted = new Promise<never>((_, reject) => {
    req.signal.addEventListener("abort", () => reject(req.signal.reason ?? new DOMException("aborted", "AbortError")), { once: true });
  });
  const r = await Promise.race([sent, aborted]);
  const nullBody = [101, 204, 205, 304].includes(r.status) || req.method === "HEAD";
  if (nullBody && r.bodyId !== null) host.cancelFetchBody(r.bodyId);
  const res = new Response(nullBody || r.bodyId === null ? null : responseBodyStream(r.bodyId, req.signal), {
    status: r.status < 200 ? 200 : r.status,
    statusText: r.statusText,
    headers: r.headers,
  });
  res._url = r.url;
  res._redirected = r.redirected;
  return res;
}

/**
 * A response body read from the engine as the worker reads it (no highWaterMark: nothing is asked for
 * ahead), so it arrives chunk by chunk and a large one is never held whole. An abort after the head
 * fails the body and closes the connection.
 */
function responseBodyStream(id: number, signal: AbortSignal): ReadableStream<Uint8Array> {
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(c) {
      signal.addEventListener("abort", () => {
        if (done) return;
        done = true;
        host.cancelFetchBody(id);
        c.error(signal.reason ?? new DOMException("aborted", "AbortError"));
      }, { once: true });
    },
    async pull(c) {
      const bytes = await host.readFetchBody(id);
      if (done) return;
      if (bytes === null) {
        done = true;
        c.close();
      } else c.enqueue(new Uint8Array(bytes));
    },
    cancel() {
      done = true;
      host.cancelFetchBody(id);
    },
  }, { highWaterMark: 0 });
}
