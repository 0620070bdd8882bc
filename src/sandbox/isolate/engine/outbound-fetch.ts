import { lookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { forbiddenReason } from "./address-policy.js";

/** A tenant's outbound request, as the prelude's fetch() hands it to the engine. */
export interface OutboundRequest {
  url: string;
  method: string;
  headers: Array<[string, string]>;
  body: ArrayBuffer | null;
  redirect: "follow" | "manual" | "error";
}

export interface OutboundResponse {
  url: string;
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: ArrayBuffer;
  redirected: boolean;
}

const MAX_REDIRECTS = 20;
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

/**
 * fetch() done by the engine for a tenant. The host name is resolved first and every address is
 * checked; the connection then goes to the checked address only (a pinned lookup), so a DNS answer
 * that changes between check and connect cannot reach a forbidden address.
 */
export async function outboundFetch(req: OutboundRequest): Promise<OutboundResponse> {
  let url = new URL(req.url);
  let method = req.method.toUpperCase();
  let body = req.body;
  for (let hop = 0; ; hop++) {
    const res = await fetchOnce(url, method, req.headers, body);
    const location = res.headers.find(([k]) => k === "location")?.[1];
    if (![301, 302, 303, 307, 308].includes(res.status) || location === undefined || req.redirect === "manual") {
      return { ...res, redirected: hop > 0 };
    }
    if (req.redirect === "error") throw new TypeError(`fetch to ${url.href} was redirected and redirect is "error"`);
    if (hop >= MAX_REDIRECTS) throw new TypeError(`fetch to ${req.url} followed more than ${MAX_REDIRECTS} redirects`);
    url = new URL(location, url);
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
      method = "GET";
      body = null;
    }
  }
}

async function pinnedAddress(url: URL): Promise<{ address: string; family: number }> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const answers = await lookup(host, { all: true, verbatim: true }).catch((err: Error) => {
    throw new TypeError(`fetch to ${url.href} failed: cannot resolve ${host} (${err.message})`);
  });
  for (const a of answers) {
    const why = forbiddenReason(a.address);
    if (why) throw new TypeError(`fetch to ${url.href} refused: ${why}`);
  }
  const first = answers[0];
  if (!first) throw new TypeError(`fetch to ${url.href} failed: ${host} has no address`);
  return first;
}

async function fetchOnce(
  url: URL,
  method: string,
  headers: Array<[string, string]>,
  body: ArrayBuffer | null,
): Promise<Omit<OutboundResponse, "redirected">> {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`fetch to ${url.href} refused: only http and https are supported`);
  }
  const pinned = await pinnedAddress(url);
  const pinnedLookup: LookupFunction = (_host, opts, cb) => {
    if (opts.all) cb(null, [pinned]);
    else cb(null, pinned.address, pinned.family);
  };
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return await new Promise((resolve, reject) => {
    const out = send(
      url,
      { method, headers: groupHeaders(headers), lookup: pinnedLookup, timeout: TIMEOUT_MS },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy(new TypeError(`fetch to ${url.href}: response larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on("error", reject);
        res.on("end", () => {
          const all = Buffer.concat(chunks);
          const pairs: Array<[string, string]> = [];
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
            pairs.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
          }
          resolve({
            url: url.href,
            status: res.statusCode ?? 502,
            statusText: res.statusMessage ?? "",
            headers: pairs,
            body: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
          });
        });
      },
    );
    out.on("timeout", () => out.destroy(new TypeError(`fetch to ${url.href} timed out after ${TIMEOUT_MS} ms`)));
    out.on("error", (err) => reject(err instanceof TypeError ? err : new TypeError(`fetch to ${url.href} failed: ${err.message}`)));
    out.end(body ? Buffer.from(body) : undefined);
  });
}

function groupHeaders(pairs: Array<[string, string]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of pairs) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
