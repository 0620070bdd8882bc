import type { OutgoingHttpHeaders } from "node:http";
import { type BlobStore, etagFor, type StaticFile } from "../../artifacts/index.js";
import type { Encoding } from "./http-parts.js";

/** One encoding of one file as served under one handler, with its response headers built once. */
export interface Representation {
  /** The blob file on disk; also the byte-cache key. */
  path: string;
  size: number;
  etag: string;
  /** Headers for 200 (and HEAD). */
  ok: OutgoingHttpHeaders;
  /** Headers for 304. */
  notModified: OutgoingHttpHeaders;
}

export interface FileRepresentations {
  identity: Representation;
  br?: Representation;
  gzip?: Representation;
  /** Headers shared by a 206 before Content-Range and Content-Length are added. */
  partialBase: OutgoingHttpHeaders;
}

/** Framing headers a handler's http_headers may not override without breaking the response. */
const RESERVED = new Set(["content-length", "content-encoding", "content-range", "transfer-encoding", "connection", "etag"]);

export interface ServeAs {
  /** Full Content-Type value, or undefined to derive it from the file's MIME type. */
  mimeType?: string;
  cacheControl: string;
  extraHeaders?: Record<string, string>;
}

/** Text is UTF-8 unless the type already says otherwise (a handler's mime_type may carry parameters). */
export function contentTypeFor(mime: string): string {
  const text = mime.startsWith("text/") || mime === "application/javascript";
  return text && !mime.includes(";") ? `${mime}; charset=utf-8` : mime;
}

export function buildRepresentations(
  file: StaticFile,
  blobs: BlobStore,
  as: ServeAs,
): FileRepresentations {
  const hasVariants = file.gzip !== undefined || file.br !== undefined;
  const common: OutgoingHttpHeaders = {
    "content-type": as.mimeType ?? contentTypeFor(file.mime),
    "cache-control": as.cacheControl,
  };
  if (hasVariants) common.vary = "Accept-Encoding";
  for (const [name, value] of Object.entries(as.extraHeaders ?? {})) {
    const key = name.toLowerCase();
    if (!RESERVED.has(key)) common[key] = value;
  }
  const make = (digest: string, size: number, encoding?: Encoding): Representation => {
    const etag = encoding === undefined ? file.etag : etagFor(digest);
    const ok: OutgoingHttpHeaders = { ...common, etag, "content-length": size };
    if (encoding !== undefined) ok["content-encoding"] = encoding;
    else ok["accept-ranges"] = "bytes";
    const notModified: OutgoingHttpHeaders = { etag, "cache-control": common["cache-control"] };
    if (hasVariants) notModified.vary = "Accept-Encoding";
    return { path: blobs.path(digest), size, etag, ok, notModified };
  };
  const reps: FileRepresentations = {
    identity: make(file.digest, file.size),
    partialBase: { ...common, etag: file.etag, "accept-ranges": "bytes" },
  };
  if (file.br !== undefined && file.brSize !== undefined) reps.br = make(file.br, file.brSize, "br");
  if (file.gzip !== undefined && file.gzipSize !== undefined) reps.gzip = make(file.gzip, file.gzipSize, "gzip");
  return reps;
}
