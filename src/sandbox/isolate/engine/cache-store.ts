import CachePolicy from "http-cache-semantics";

/**
 * The Workers Cache API's store (caches.default and caches.open(name)) for one app, in the engine's
 * memory: what workerd's cache service keeps, with its rules. Whether a response is kept, and for how
 * long, is decided by http-cache-semantics as a shared cache (as Miniflare decides it for workerd):
 * Cache-Control max-age / s-maxage / no-store / private / no-cache, Expires, and no Set-Cookie unless
 * `private=Set-Cookie` drops it. A match answers If-None-Match / If-Modified-Since with 304 and a single
 * byte range with 206. Entries past MAX_BYTES are evicted oldest first; the cache does not outlive the engine.
 */
export interface CachedResponse { status: number; headers: Array<[string, string]>; body: ArrayBuffer | null }

interface Entry { status: number; headers: Array<[string, string]>; body: Buffer; expiresAt: number }

const MAX_BYTES = 64 * 1024 * 1024;

export class CacheStore {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  private static key(cache: string, url: string): string {
    return `${cache}\0${url}`;
  }

  /** Keeps the response when its headers allow; a response they do not allow is dropped, as workerd's cache drops it. */
  put(cache: string, url: string, reqHeaders: Array<[string, string]>, status: number, resHeaders: Array<[string, string]>, body: ArrayBuffer): void {
    const req = lower(reqHeaders);
    delete req["cache-control"];
    const res = lower(resHeaders);
    const cc = res["cache-control"];
    if (cc !== undefined && /private=("?)set-cookie\1/i.test(cc)) {
      res["cache-control"] = cc.replace(/\s*,?\s*private=("?)set-cookie\1\s*,?/i, "").trim();
      delete res["set-cookie"];
    }
    const policy = new CachePolicy({ url, method: "GET", headers: req }, { status, headers: res }, { shared: true });
    const ttl = policy.timeToLive();
    if (!policy.storable() || "set-cookie" in res || ttl <= 0 || body.byteLength > MAX_BYTES) return;
    const headers: Array<[string, string]> = [];
    for (const [k, v] of Object.entries(policy.responseHeaders())) {
      if (v === undefined || k === "content-length") continue;
      for (const one of Array.isArray(v) ? v : [v]) headers.push([k, one]);
    }
    headers.push(["content-length", String(body.byteLength)]);
    this.remove(CacheStore.key(cache, url));
    const entry = { status, headers, body: Buffer.from(body), expiresAt: Date.now() + ttl };
    this.entries.set(CacheStore.key(cache, url), entry);
    this.bytes += entry.body.length;
    for (const k of this.entries.keys()) {
      if (this.bytes <= MAX_BYTES) break;
      this.remove(k);
    }
  }

  match(cache: string, url: string, reqHeaders: Array<[string, string]>): CachedResponse | null {
    const key = CacheStore.key(cache, url);
    const e = this.entries.get(key);
    if (!e) return null;
    if (e.expiresAt <= Date.now()) {
      this.remove(key);
      return null;
    }
    const req = lower(reqHeaders);
    const headers: Array<[string, string]> = [...e.headers, ["cf-cache-status", "HIT"]];
    const get = (name: string): string | undefined => e.headers.find(([k]) => k === name)?.[1];
    if (notModified(req, get("etag"), get("last-modified"))) return { status: 304, headers, body: null };
    const range = req["range"] === undefined ? null : byteRange(req["range"], e.body.length);
    if (range === "unsatisfiable") {
      return { status: 416, headers: [["content-range", `bytes */${e.body.length}`], ["cf-cache-status", "HIT"]], body: null };
    }
    if (range) {
      const part = e.body.subarray(range.start, range.end + 1);
      const ranged = headers.filter(([k]) => k !== "content-length");
      ranged.push(["content-range", `bytes ${range.start}-${range.end}/${e.body.length}`], ["content-length", String(part.length)]);
      return { status: 206, headers: ranged, body: arrayBuffer(part) };
    }
    return { status: e.status, headers, body: arrayBuffer(e.body) };
  }

  delete(cache: string, url: string): boolean {
    const key = CacheStore.key(cache, url);
    const e = this.entries.get(key);
    if (!e) return false;
    this.remove(key);
    return e.expiresAt > Date.now();
  }

  private remove(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.body.length;
  }
}

/** Runs one Cache API call from the prelude (prelude/cache.ts) on `store`. */
export function cacheCall(store: CacheStore, op: string, args: unknown[]): CachedResponse | boolean | null {
  const [cache, url, reqHeaders] = [String(args[0]), String(args[1]), args[2] as Array<[string, string]>];
  switch (op) {
    case "match":
      return store.match(cache, url, reqHeaders);
    case "put":
      if (!(args[5] instanceof ArrayBuffer)) throw new TypeError("a cached body crosses as bytes");
      store.put(cache, url, reqHeaders, Number(args[3]), args[4] as Array<[string, string]>, args[5]);
      return null;
    case "delete":
      return store.delete(cache, url);
    default:
      throw new TypeError(`unknown cache operation ${op}`);
  }
}

function lower(headers: Array<[string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of headers) out[k.toLowerCase()] = v;
  return out;
}

function arrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

const ETAG = /^(W\/)?"(.+)"$/;
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

/** RFC 9110 §13.1: a weak comparison of entity tags for If-None-Match; If-Modified-Since against Last-Modified. */
function notModified(req: Record<string, string>, etag: string | undefined, lastModified: string | undefined): boolean {
  const inm = req["if-none-match"];
  const tag = etag === undefined ? undefined : ETAG.exec(etag.trim())?.[2];
  if (inm !== undefined && tag !== undefined) {
    if (inm.trim() === "*") return true;
    if (inm.split(",").some((t) => ETAG.exec(t.trim())?.[2] === tag)) return true;
  }
  const ims = req["if-modified-since"];
  if (ims !== undefined && lastModified !== undefined && HTTP_DATE.test(ims) && HTTP_DATE.test(lastModified)) {
    return Date.parse(lastModified) <= Date.parse(ims);
  }
  return false;
}

/** One range of a `Range: bytes=...` header (RFC 9110 §14.1.2); several ranges, or another unit, answer the whole body. */
function byteRange(header: string, size: number): { start: number; end: number } | "unsatisfiable" | null {
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}
