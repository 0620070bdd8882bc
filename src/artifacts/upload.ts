import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { StrataError } from "../errors.js";
import { SizeLimitExceeded, writeHashed } from "./hashed-write.js";

export interface ReceivedUpload {
  /** The temp file holding the upload; the caller moves or deletes it. */
  path: string;
  digest: string;
  size: number;
}

/**
 * Streams an uploaded archive into a new file in `dir`, hashing as it goes (never holding it whole in
 * memory). Past `maxBytes` the upload is aborted and the partial file deleted; the rest of `stream` is
 * left unread (not destroyed), so an HTTP handler can still answer 413 and close the connection.
 */
export async function receiveUpload(stream: Readable, dir: string, maxBytes: number): Promise<ReceivedUpload> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `upload-${Date.now()}-${randomBytes(6).toString("hex")}.tar`);
  try {
    const { digest, size } = await writeHashed(stream, path, maxBytes);
    return { path, digest, size };
  } catch (err) {
    if (err instanceof SizeLimitExceeded) {
      const mb = formatMb(maxBytes);
      throw new StrataError(
        "ARCHIVE_TOO_LARGE",
        `the upload is larger than allowed: the limit is ${mb} MB; exclude files with .stratignore`,
        { limitBytes: maxBytes },
      );
    }
    throw new StrataError("INVALID_ARCHIVE", `the upload did not complete: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
}

function formatMb(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return Number.isInteger(mb) ? String(mb) : mb.toFixed(1);
}
