import { lookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { brotliDecompress, gunzip, inflate, inflateRaw, type InputType, type ZlibOptions } from "node:zlib";
import { promisify } from "node:util";
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
export async function outboundFetch(req: OutboundRequest, policy: (address: string) => string | null = forbiddenReason): Promise<OutboundResponse> {
  let url = new URL(req.url);
  let method = req.method.toUpperCase();
  let body = req.body;
  let headers = req.headers;
  for (let hop = 0; ; hop++) {
    const res = await fetchOnce(url, method, headers, body, policy);
    const location = res.headers.find(([k]) => k === "location")?.[1];
    if (![301, 302, 303, 307, 308].includes(res.status) || location === undefined || req.redirect === "manual") {
      return { ...res, redirected: hop > 0 };
    }
    if (req.redirect === "error") throw new TypeError(`fetch to ${url.href} was redirected and redirect is "error"`);
    if (hop >= MAX_REDIRECTS) throw new TypeError(`fetch to ${req.url} followed more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, url);
    // The Fetch standard's HTTP-redirect fetch: credentials do not follow a redirect to another origin,
    // and a body dropped for a GET takes its headers with it.
    if (next.origin !== url.origin) headers = headers.filter(([k]) => k.toLowerCase() !== "authorization");
    url = next;
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
      if (method !== "HEAD") method = "GET";
      body = null;
      headers = headers.filter(([k]) => !REQUEST_BODY_HEADERS.has(k.toLowerCase()));
    }
  }
}

const REQUEST_BODY_HEADERS = new Set(["content-encoding", "content-language", "content-location", "content-type", "content-length"]);

/** Content codings fetch decodes (the Fetch standard's "handle content codings"); the header stays, as in workerd. */
const DECODERS: Record<string, (b: InputType, o: ZlibOptions) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  "x-gzip": promisify(gunzip),
  br: promisify(brotliDecompress) as (b: InputType, o: ZlibOptions) => Promise<Buffer>,
  // "deflate" is meant to be zlib-wrapped, but some servers send it raw.
  deflate: (b, o) => promisify(inflate)(b, o).catch(() => promisify(inflateRaw)(b, o)),
};

async function decodeBody(url: URL, coding: string | undefined, body: Buffer): Promise<Buffer> {
  const c = coding?.trim().toLowerCase();
  if (!c || c === "identity" || body.length === 0) return body;
  const decode = DECODERS[c];
  if (!decode) return body; // an unknown coding is passed through as it came, as browsers do
  try {
    return await decode(body, { maxOutputLength: MAX_RESPONSE_BYTES });
  } catch (err) {
    throw new TypeError(`fetch to ${url.href}: the ${c}-encoded response body could not be decoded (${(err as Error).message})`);
  }
}

async function pinnedAddress(url: URL, policy: (address: string) => string | null): Promise<{ address: string; family: number }> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const answers = await lookup(host, { all: true, verbatim: true }).catch((err: Error) => {
    throw new TypeError(`fetch to ${url.href} failed: cannot resolve ${host} (${err.message})`);
  });
  for (const a of answers) {
    const why = policy(a.address);
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
  policy: (address: string) => string | null,
): Promise<Omit<OutboundResponse, "redirected">> {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`fetch to ${url.href} refused: only http and https are supported`);
  }
  const pinned = await pinnedAddress(url, policy);
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
          const pairs: Array<[string, string]> = [];
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
            pairs.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
          }
          const coding = [301, 302, 303, 307, 308, 204, 304].includes(res.statusCode ?? 0) || method === "HEAD" ? undefined : pairs.find(([k]) => k === "content-encoding")?.[1];
          decodeBody(url, coding, Buffer.concat(chunks)).then((all) => resolve({
            url: url.href,
            status: res.statusCode ?? 502,
            statusText: res.statusMessage ?? "",
            headers: pairs,
            body: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
          }), reject);
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
