import { createHash, createHmac, getHashes } from "node:crypto";
import * as url from "node:url";

/**
 * What the nodejs_compat modules bundled into a worker (build/isolate/node-compat/) ask of the engine: the
 * parts of node:crypto and node:url that are Node's own code computing over plain values, so the worker
 * gets Node's exact answers (every hash OpenSSL has; the legacy url parser). Nothing here reaches files,
 * the environment or the engine's cwd: relative paths are made absolute inside the isolate, against "/".
 * An answer is `{ value }`, or `{ error }` with the Node error's name, code and message, which the isolate
 * throws again as the same kind of error.
 */
export type NodeAnswer = { value: unknown } | { error: { name: string; code?: string; message: string } };

const HASHES = new Set(getHashes().map((h) => h.toLowerCase()));

/** A legacy Url as plain data (the isolate rebuilds the Url object; its `query` may be an object). */
function plainUrl(u: url.Url): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(u)) out[k] = k === "query" && v !== null && typeof v === "object" ? { ...(v as object) } : v;
  return out;
}

/** url.format's input: a string, a legacy Url as plain data, or a WHATWG URL given as `{ whatwg: href }`. */
function formatInput(obj: unknown): string | URL | url.UrlObject {
  if (obj !== null && typeof obj === "object" && typeof (obj as { whatwg?: unknown }).whatwg === "string") return new URL((obj as { whatwg: string }).whatwg);
  return obj as string | url.UrlObject;
}

const OPS: Record<string, (...args: unknown[]) => unknown> = {
  /** A digest (HMAC with `key`) of `data`; with data null only whether `alg` exists. */
  "crypto.hash": (alg, data, key) => {
    const name = String(alg);
    if (!HASHES.has(name.toLowerCase())) throw new Error("Digest method not supported");
    if (data === null) return null;
    const h = key instanceof ArrayBuffer ? createHmac(name, Buffer.from(key)) : createHash(name);
    const out = h.update(Buffer.from(data as ArrayBuffer)).digest();
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
  },
  "crypto.getHashes": () => getHashes(),
  "url.parse": (s, parseQuery, slashes) => plainUrl(url.parse(s as string, Boolean(parseQuery), Boolean(slashes))),
  "url.resolve": (from, to) => url.resolve(from as string, to as string),
  "url.resolveObject": (from, to) => plainUrl(url.parse(url.resolve(from as string, to as string))),
  "url.format": (obj, options) => url.format(formatInput(obj) as URL, (options ?? undefined) as url.URLFormatOptions),
  "url.domainToASCII": (d) => url.domainToASCII(String(d)),
  "url.domainToUnicode": (d) => url.domainToUnicode(String(d)),
  "url.fileURLToPath": (href) => url.fileURLToPath(href as string),
  "url.urlToHttpOptions": (href) => ({ ...url.urlToHttpOptions(new URL(href as string)) }),
  /** `path` is absolute already (resolved in the isolate), so Node's resolve against its cwd never applies. */
  "url.pathToFileURL": (path) => url.pathToFileURL(String(path)).href,
};

export function nodeCall(op: unknown, args: unknown[]): NodeAnswer {
  const fn = OPS[String(op)];
  if (!fn) return { error: { name: "TypeError", message: `no node call ${String(op)}` } };
  try {
    return { value: fn(...args) };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const code = (e as { code?: unknown }).code;
    return { error: { name: e.name, ...(typeof code === "string" && { code }), message: e.message } };
  }
}
