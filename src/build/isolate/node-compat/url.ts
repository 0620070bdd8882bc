/**
 * node:url under nodejs_compat, bundled into a worker by the isolate builder. URL and URLSearchParams are
 * the isolate's own (the prelude's WHATWG classes); the legacy API (parse, format, resolve) and
 * domainToASCII/Unicode, fileURLToPath and pathToFileURL are Node's code, run by the engine over plain values
 * (sandbox/isolate/engine/node-bridge.ts), so they answer exactly as Node's.
 */
import path from "node:path";
import { engineCall } from "./engine.js";

export const URL = globalThis.URL;
export const URLSearchParams = globalThis.URLSearchParams;

/** Node's legacy Url: the fields url.parse fills, in its order. */
export class Url {
  protocol: string | null = null;
  slashes: boolean | null = null;
  auth: string | null = null;
  host: string | null = null;
  port: string | null = null;
  hostname: string | null = null;
  hash: string | null = null;
  search: string | null = null;
  query: string | Record<string, unknown> | null = null;
  pathname: string | null = null;
  path: string | null = null;
  href: string | null = null;

  format(): string {
    return format(this);
  }

  resolve(relative: string): string {
    return resolve(format(this), relative);
  }

  resolveObject(relative: string): Url {
    return resolveObject(format(this), relative);
  }
}

function toUrl(fields: Record<string, unknown>): Url {
  const u = new Url();
  for (const [k, v] of Object.entries(fields)) (u as unknown as Record<string, unknown>)[k] = k === "query" && v !== null && typeof v === "object" ? Object.assign(Object.create(null), v) : v;
  return u;
}

export function parse(urlString: string, parseQueryString = false, slashesDenoteHost = false): Url {
  return toUrl(engineCall("url.parse", urlString, parseQueryString, slashesDenoteHost));
}

export function resolve(from: string, to: string): string {
  return engineCall("url.resolve", from, to);
}

export function resolveObject(from: string, to: string): Url {
  return toUrl(engineCall("url.resolveObject", from, to));
}

/** A legacy Url or object (its own fields go across), a string, or a WHATWG URL (with Node's options). */
export function format(urlObject: unknown, options?: { auth?: boolean; fragment?: boolean; search?: boolean; unicode?: boolean }): string {
  if (urlObject instanceof URL) return engineCall("url.format", { whatwg: urlObject.href }, options);
  if (urlObject !== null && typeof urlObject === "object") return engineCall("url.format", { ...urlObject });
  return engineCall("url.format", urlObject);
}

export function domainToASCII(domain: string): string {
  return engineCall("url.domainToASCII", domain);
}

export function domainToUnicode(domain: string): string {
  return engineCall("url.domainToUnicode", domain);
}

export function fileURLToPath(url: string | URL): string {
  return engineCall("url.fileURLToPath", url instanceof URL ? url.href : url);
}

/** Relative paths resolve against "/" (a worker has no working directory), keeping a trailing slash as Node does. */
export function pathToFileURL(filepath: string): URL {
  const absolute = path.resolve(String(filepath)) + (String(filepath).endsWith("/") && filepath !== "/" ? "/" : "");
  return new URL(engineCall<string>("url.pathToFileURL", absolute));
}

export function urlToHttpOptions(url: URL): Record<string, unknown> {
  return engineCall("url.urlToHttpOptions", url.href);
}

export default { URL, URLSearchParams, Url, parse, resolve, resolveObject, format, domainToASCII, domainToUnicode, fileURLToPath, pathToFileURL, urlToHttpOptions };
