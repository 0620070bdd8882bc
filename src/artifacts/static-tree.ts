/**
 * The artifact a static build produces and the router serves: a manifest (itself a JSON blob) mapping
 * each served path to its content blob and its precompressed copies. Owned here, by artifacts, because
 * build writes it and router reads it and neither may import the other.
 */
export interface StaticFile {
  /** The file's content blob. */
  digest: string;
  size: number;
  /** MIME type without parameters, e.g. "text/html". */
  mime: string;
  /** A strong ETag, quotes included, derived from the digest. */
  etag: string;
  /** Blob of the gzip-compressed content, when smaller than the original. */
  gzip?: string;
  gzipSize?: number;
  /** Blob of the brotli-compressed content, when smaller than the original. */
  br?: string;
  brSize?: number;
}

export interface StaticTree {
  /** Keyed by the path relative to the upload root, "/"-separated, no leading slash. */
  files: Record<string, StaticFile>;
}

/** A strong ETag for a blob: 128 bits of its sha256 are plenty to tell contents apart. */
export function etagFor(digest: string): string {
  return `"${digest.slice("sha256:".length, "sha256:".length + 32)}"`;
}
