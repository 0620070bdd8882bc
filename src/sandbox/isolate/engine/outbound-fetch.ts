import { lookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { PassThrough, Transform, type Readable } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from "node:zlib";
import { forbiddenReason } from "./address-policy.js";

/** A tenant's outbound request, as the prelude's fetch() hands it to the engine. */
export interface OutboundRequest {
  url: string;
  method: string;
  headers: Array<[string, string]>;
  body: ArrayBuffer | null;
  redirect: "follow" | "manual" | "error";
}

/** The response as the engine has it: the head at once, the body as a stream read as the worker pulls. */
export interface OutboundResponse {
  url: string;
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  /** Decoded (content codings undone); null for a response that has no body (HEAD, 204, 304...). */
  body: Readable | null;
  redirected: boolean;
}

/** The response as it crosses into the isolate: the head, and the id its body is read by (engine/fetch-bodies.ts). */
export type FetchResponseHead = Omit<OutboundResponse, "body"> & { bodyId: number | null };

const MAX_REDIRECTS = 20;
/** No bytes for this long, either way (the server is silent, or the worker stopped reading): the fetch fails. */
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
    res.body?.destroy(); // a followed redirect's own body is not read
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
const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  "x-gzip": createGunzip,
  br: createBrotliDecompress,
  // "deflate" is meant to be zlib-wrapped, but some servers send it raw.
  deflate: () => new EitherDeflate(),
};

/** Inflates a "deflate" body zlib-wrapped or raw, as its first bytes say. */
class EitherDeflate extends Transform {
  private inner: Transform | null = null;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (!this.inner) {
      // A zlib stream starts with CMF 0x?8 (deflate) and a 16-bit header that is a multiple of 31.
      const wrapped = chunk.length >= 2 && (chunk[0]! & 0x0f) === 8 && ((chunk[0]! << 8) | chunk[1]!) % 31 === 0;
      this.inner = wrapped ? createInflate() : createInflateRaw();
      this.inner.on("data", (d: Buffer) => this.push(d));
      this.inner.on("error", (err) => this.destroy(err));
    }
    this.inner.write(chunk, () => done());
  }

  override _flush(done: (err?: Error | null) => void): void {
    if (!this.inner) return done();
    this.inner.once("end", () => done());
    this.inner.end();
  }
}

/** The body as the worker reads it: decoded as it goes, a decoding error failing the read that meets it. */
function decodedBody(url: URL, coding: string | undefined, res: IncomingMessage): Readable {
  const c = coding?.trim().toLowerCase();
  const make = c && c !== "identity" ? DECODERS[c] : undefined;
  if (!make) return res; // no coding, or an unknown one: passed through as it came, as browsers do
  const decoder = make();
  const out = new PassThrough();
  res.pipe(decoder).pipe(out);
  res.on("error", (err) => out.destroy(err));
  decoder.on("error", (err) => out.destroy(new TypeError(`fetch to ${url.href}: the ${c}-encoded response body could not be decoded (${err.message})`)));
  out.on("close", () => {
    res.destroy(); // the worker cancelled, or the body failed: the connection goes too
    decoder.destroy();
  });
  return out;
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
        const pairs: Array<[string, string]> = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          pairs.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
        }
        const status = res.statusCode ?? 502;
        const noBody = [204, 304].includes(status) || method === "HEAD";
        if (noBody) res.resume();
        const coding = noBody || [301, 302, 303, 307, 308].includes(status) ? undefined : pairs.find(([k]) => k === "content-encoding")?.[1];
        resolve({ url: url.href, status, statusText: res.statusMessage ?? "", headers: pairs, body: noBody ? null : decodedBody(url, coding, res) });
      },
    );
    // Before the head: a failed request. After it: the body's stream fails, and the worker's read with it.
    out.on("timeout", () => out.destroy(new TypeError(`fetch to ${url.href} timed out: no bytes for ${TIMEOUT_MS} ms`)));
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
