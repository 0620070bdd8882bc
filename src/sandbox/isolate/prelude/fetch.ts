import { host } from "./host.js";
import { copyBuffer } from "./blob.js";
import { Request, Response, type RequestInit } from "./request-response.js";
import { DOMException } from "./encoding.js";
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
  const res = new Response(nullBody ? null : r.body, {
    status: r.status < 200 ? 200 : r.status,
    statusText: r.statusText,
    headers: r.headers,
  });
  res._url = r.url;
  res._redirected = r.redirected;
  return res;
}
