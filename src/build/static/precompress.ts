import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { brotliCompress, constants as zlibConstants, gzip } from "node:zlib";
import type { BlobStore } from "../../artifacts/index.js";

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/** Larger text files are served uncompressed rather than compressed in memory at build time. */
const MAX_PRECOMPRESS_BYTES = 32 * 1024 * 1024;
/**
 * Below this a response fits in one TCP segment either way, so compression saves the client nothing
 * while costing each deploy two compressions and three writes per file (nginx's and CDNs' thresholds
 * are of the same order).
 */
export const MIN_PRECOMPRESS_BYTES = 1024;
/**
 * Brotli quality at deploy: 10, not the maximum 11. On 8 KiB text pages (measured here) 11 took ~9 ms a
 * file for output 1.7% smaller than 10's at ~3 ms, which made a 200-page deploy CPU-bound; 5-8 were
 * ~0.3 ms but 6% larger than 11, and 9 was slower than 10 on small inputs.
 */
const BROTLI_QUALITY = 10;
/** Past this, even quality 10 costs seconds per file for a percent or two: quality 5 then. */
const MAX_SLOW_BROTLI_BYTES = 4 * 1024 * 1024;
const DERIVED_KIND = "precompressed";

const COMPRESSIBLE_APPLICATION = new Set([
  "application/javascript",
  "application/json",
  "application/xml",
  "application/xhtml+xml",
  "application/rss+xml",
  "application/atom+xml",
  "application/manifest+json",
  "application/ld+json",
  "application/x-javascript",
]);

/** Text-like types worth compressing; images, fonts in woff/woff2, archives and wasm are left alone. */
export function isCompressible(mime: string): boolean {
  return (
    mime.startsWith("text/") ||
    COMPRESSIBLE_APPLICATION.has(mime) ||
    mime.endsWith("+json") ||
    mime.endsWith("+xml") ||
    mime === "image/svg+xml"
  );
}

/** Fields of a StaticFile: the compressed copies' blobs and sizes. */
export interface Variants {
  gzip?: string;
  gzipSize?: number;
  br?: string;
  brSize?: number;
}

type Copy = { digest: string; size: number } | null;
/** What is recorded per source digest; null means "compressed once, not smaller, do not retry". */
interface VariantRecord {
  gzip: Copy;
  br: Copy;
}

/**
 * The gzip and brotli copies of a blob, compressed at most once per distinct content (the result is
 * recorded next to the blob store), keeping only copies smaller than the original. `source.path` is the
 * file the blob was stored from: reading it rather than the blob leaves the build independent of the
 * blob store's collector.
 */
export async function precompress(
  blobs: BlobStore,
  source: { digest: string; size: number; path: string },
): Promise<{ variants: Variants; reused: boolean }> {
  if (source.size > MAX_PRECOMPRESS_BYTES) return { variants: {}, reused: true };
  const known = await blobs.readDerived<VariantRecord>(DERIVED_KIND, source.digest);
  if (known && (await stillStored(blobs, known))) return { variants: toVariants(known), reused: true };

  const content = await readFile(source.path);
  const [gz, br] = await Promise.all([
    gzipAsync(content, { level: 9 }),
    brotliAsync(content, {
      params: {
        [zlibConstants.BROTLI_PARAM_QUALITY]: content.length <= MAX_SLOW_BROTLI_BYTES ? BROTLI_QUALITY : 5,
        [zlibConstants.BROTLI_PARAM_MODE]: zlibConstants.BROTLI_MODE_TEXT,
        [zlibConstants.BROTLI_PARAM_SIZE_HINT]: content.length,
      },
    }),
  ]);
  const record: VariantRecord = {
    gzip: gz.length < content.length ? await blobs.putBuffer(gz) : null,
    br: br.length < content.length ? await blobs.putBuffer(br) : null,
  };
  await blobs.writeDerived(DERIVED_KIND, source.digest, record);
  return { variants: toVariants(record), reused: false };
}

/** Whether the recorded copies are still stored; reuse() marks them used, as this build references them. */
async function stillStored(blobs: BlobStore, record: VariantRecord): Promise<boolean> {
  for (const copy of [record.gzip, record.br]) {
    if (copy !== null && !(await blobs.reuse(copy.digest))) return false;
  }
  return true;
}

function toVariants(record: VariantRecord): Variants {
  const out: Variants = {};
  if (record.gzip) {
    out.gzip = record.gzip.digest;
    out.gzipSize = record.gzip.size;
  }
  if (record.br) {
    out.br = record.br.digest;
    out.brSize = record.br.size;
  }
  return out;
}
