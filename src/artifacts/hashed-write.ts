import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { unlink } from "node:fs/promises";
import { finished, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** Raised inside the pipeline when a stream passes its byte limit; callers turn it into their own error. */
export class SizeLimitExceeded extends Error {
  constructor(readonly limit: number) {
    super(`stream exceeds ${limit} bytes`);
  }
}

export interface HashedWrite {
  /** "sha256:<64 hex>" */
  digest: string;
  size: number;
}

/**
 * Streams `source` into a new file at `filePath` (which must not exist) while hashing and counting it,
 * so nothing is ever held whole in memory. On any failure, including passing `maxBytes`, the partial
 * file is deleted before the error propagates. `source` is unpiped but not destroyed: for an HTTP
 * request that would kill the socket before the caller could answer (413 with a useful message).
 */
export async function writeHashed(source: Readable, filePath: string, maxBytes = Infinity): Promise<HashedWrite> {
  const hash = createHash("sha256");
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) {
        done(new SizeLimitExceeded(maxBytes));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const sink = createWriteStream(filePath, { flags: "wx" });
  const written = pipeline(meter, sink);
  // pipe() ends `meter` on the source's end but not on its failure (a client that hangs up): forward that.
  finished(source, (err) => {
    if (err) meter.destroy(err);
  });
  source.pipe(meter);
  try {
    await written;
  } catch (err) {
    source.unpipe(meter);
    // A failure can come while the file is still being opened: wait until the stream has closed its fd,
    // or the unlink below finds nothing and the open creates the file afterwards.
    if (!sink.closed) await new Promise<void>((resolve) => sink.once("close", () => resolve()));
    await unlink(filePath).catch((unlinkErr: NodeJS.ErrnoException) => {
      // ENOENT: the write stream never created the file; anything else is worth surfacing.
      if (unlinkErr.code !== "ENOENT") throw unlinkErr;
    });
    throw err;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}
