/** Small, allocation-light parsers for the request headers the static server honours. */

export type Encoding = "br" | "gzip";

/**
 * The decoded path, with "." and empty segments dropped and ".." applied; a trailing slash is kept
 * (it means "the folder"). Undefined for a path that is malformed or climbs above the root.
 */
export function normalizeUrlPath(raw: string): string | undefined {
  let path = raw;
  if (path.includes("%")) {
    try {
      path = decodeURIComponent(path);
    } catch {
      // Malformed percent-encoding: the caller answers 400.
      return undefined;
    }
  }
  if (path.charCodeAt(0) !== 47 /* / */ || path.includes("\0")) return undefined;
  if (!path.includes("/.") && !path.includes("//")) return path;
  const parts: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(seg);
  }
  const trailing = path.endsWith("/") || path.endsWith("/.") || path.endsWith("/..");
  return parts.length === 0 ? "/" : `/${parts.join("/")}${trailing ? "/" : ""}`;
}

/** A single byte range, "unsatisfiable" (416), or undefined to ignore the header and send it all. */
export function parseRange(header: string, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  if (!header.startsWith("bytes=") || header.includes(",")) return undefined;
  const spec = header.slice(6).trim();
  const dash = spec.indexOf("-");
  if (dash === -1) return undefined;
  const first = spec.slice(0, dash).trim();
  const last = spec.slice(dash + 1).trim();
  if (!/^\d*$/.test(first) || !/^\d*$/.test(last) || (first === "" && last === "")) return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== "" && Number(last) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

/** If-None-Match: "*" or a list of entity tags, compared weakly (W/ ignored) as RFC 9110 asks. */
export function etagMatches(header: string, etag: string): boolean {
  if (header === etag || header === "*") return true;
  if (!header.includes(",") && !header.startsWith("W/")) return false;
  for (const part of header.split(",")) {
    const tag = part.trim();
    if (tag === etag || tag === `W/${etag}` || tag === "*") return true;
  }
  return false;
}

/**
 * Accepted codings and their weights, remembered per distinct header value (browsers send a handful),
 * so the common case is one Map lookup.
 */
export class EncodingNegotiator {
  private readonly memo = new Map<string, { br: number; gzip: number }>();

  pick(header: string | undefined, hasBr: boolean, hasGzip: boolean): Encoding | undefined {
    if (header === undefined || (!hasBr && !hasGzip)) return undefined;
    let q = this.memo.get(header);
    if (q === undefined) {
      q = parseAcceptEncoding(header);
      if (this.memo.size >= 256) this.memo.clear();
      this.memo.set(header, q);
    }
    const br = hasBr ? q.br : 0;
    const gzip = hasGzip ? q.gzip : 0;
    if (br === 0 && gzip === 0) return undefined;
    return br >= gzip ? "br" : "gzip";
  }
}

function parseAcceptEncoding(header: string): { br: number; gzip: number } {
  let br: number | undefined;
  let gzip: number | undefined;
  let star = 0;
  for (const item of header.split(",")) {
    const [rawName, ...params] = item.split(";");
    const name = rawName!.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split("=");
      if (k?.trim().toLowerCase() === "q" && v !== undefined) {
        const n = Number(v.trim());
        q = Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
      }
    }
    if (name === "br") br = q;
    else if (name === "gzip" || name === "x-gzip") gzip = q;
    else if (name === "*") star = q;
  }
  return { br: br ?? star, gzip: gzip ?? star };
}
