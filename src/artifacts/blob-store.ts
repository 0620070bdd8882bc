import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, copyFile, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { StrataError } from "../errors.js";
import { ignoreMissing, touchIfPresent } from "../system/fs.js";
import { SizeLimitExceeded, writeHashed, type HashedWrite } from "./hashed-write.js";

const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;
const KIND_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
const HEX_RE = /^[0-9a-f]+$/;

export type BlobRef = HashedWrite;

/** True when `s` is a well-formed "sha256:<64 lowercase hex>" digest. */
export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

function hexOf(digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new StrataError("INVALID_ARGUMENT", `not a sha256 digest: ${JSON.stringify(digest).slice(0, 100)}`);
  return m[1]!;
}

/**
 * Content-addressed blobs under `root/sha256/<2 hex>/<62 hex>`. Writes go to `root/tmp` and are renamed
 * into place, so a blob path either holds the complete content or does not exist; a content already
 * stored is never rewritten, so the same file across versions and apps is kept once. Storing a content
 * already there refreshes the blob's mtime instead: the collector (prune.ts) spares blobs changed within
 * its grace period, so a build reusing an unreferenced blob keeps it until its version is recorded.
 */
export class BlobStore {
  readonly root: string;
  /** Writers' unfinished files, named `<pid>-…`. */
  readonly tmpDir: string;
  private tmpReady: Promise<void> | undefined;

  constructor(root: string) {
    this.root = root;
    this.tmpDir = join(root, "tmp");
  }

  /** The file holding `digest` (which need not exist yet). Throws on a malformed digest. */
  path(digest: string): string {
    const hex = hexOf(digest);
    return join(this.root, "sha256", hex.slice(0, 2), hex.slice(2));
  }

  /**
   * Marks a stored blob as just used (its mtime becomes now) and says whether it is stored. Writers call
   * it, not has(), before skipping a content already present; so do builds that reference a blob they did
   * not write (e.g. a compressed copy recorded by an earlier build).
   */
  async reuse(digest: string): Promise<boolean> {
    return touchIfPresent(this.path(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
  }

  /** Stores a copy of the file at `filePath`. Reads it once to hash, and again only if it is new. */
  async putFile(filePath: string): Promise<BlobRef> {
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of createReadStream(filePath)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const digest = `sha256:${hash.digest("hex")}`;
    if (!(await this.reuse(digest))) {
      const tmp = await this.tmpPath();
      await copyFile(filePath, tmp);
      await this.commit(tmp, digest);
    }
    return { digest, size };
  }

  async putBuffer(buf: Buffer | Uint8Array): Promise<BlobRef> {
    const digest = `sha256:${createHash("sha256").update(buf).digest("hex")}`;
    if (!(await this.reuse(digest))) {
      const tmp = await this.tmpPath();
      await writeFile(tmp, buf, { flag: "wx" });
      await this.commit(tmp, digest);
    }
    return { digest, size: buf.length };
  }

  /** Streams `source` into the store; past `maxBytes` it fails with ARCHIVE_TOO_LARGE and keeps nothing. */
  async putStream(source: Readable, opts: { maxBytes?: number } = {}): Promise<BlobRef> {
    const tmp = await this.tmpPath();
    let ref: BlobRef;
    try {
      ref = await writeHashed(source, tmp, opts.maxBytes);
    } catch (err) {
      if (err instanceof SizeLimitExceeded) {
        throw new StrataError("ARCHIVE_TOO_LARGE", `the content is larger than the limit of ${err.limit} bytes`, {
          limitBytes: err.limit,
        });
      }
      throw err;
    }
    if (await this.reuse(ref.digest)) await unlink(tmp);
    else await this.commit(tmp, ref.digest);
    return ref;
  }

  async putJson(value: unknown): Promise<BlobRef> {
    return this.putBuffer(Buffer.from(JSON.stringify(value)));
  }

  /** Parses a JSON blob. The caller vouches for its shape (it stored it with putJson). */
  async readJson<T>(digest: string): Promise<T> {
    let text: string;
    try {
      text = await readFile(this.path(digest), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new StrataError("NOT_FOUND", `blob ${digest} is not in the store`, { digest });
      }
      throw err;
    }
    return JSON.parse(text) as T;
  }

  /**
   * A small record derived from a blob's content (e.g. the digests of its compressed copies), kept in
   * `root/derived/<kind>/<hex>.json`, so work done once for a content is not redone for another version.
   */
  async readDerived<T>(kind: string, digest: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.derivedPath(kind, digest), "utf8")) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async writeDerived(kind: string, digest: string, value: unknown): Promise<void> {
    const target = this.derivedPath(kind, digest);
    const tmp = await this.tmpPath();
    await writeFile(tmp, JSON.stringify(value), { flag: "wx" });
    await mkdir(dirname(target), { recursive: true });
    await rename(tmp, target);
  }

  /** Every stored blob's digest. */
  async digests(): Promise<string[]> {
    const top = join(this.root, "sha256");
    const out: string[] = [];
    for (const prefix of await readdir(top).catch(ignoreMissing([] as string[]))) {
      if (prefix.length !== 2 || !HEX_RE.test(prefix)) continue;
      for (const rest of await readdir(join(top, prefix))) {
        const digest = `sha256:${prefix}${rest}`;
        if (isDigest(digest)) out.push(digest);
      }
    }
    return out;
  }

  /** Every derived record: its file, and the digest of the blob it was derived from. */
  async derivedRecords(): Promise<Array<{ path: string; digest: string }>> {
    const top = join(this.root, "derived");
    const out: Array<{ path: string; digest: string }> = [];
    for (const kind of await readdir(top).catch(ignoreMissing([] as string[]))) {
      if (!KIND_RE.test(kind)) continue;
      for (const name of await readdir(join(top, kind))) {
        const digest = `sha256:${name.replace(/\.json$/, "")}`;
        if (name.endsWith(".json") && isDigest(digest)) out.push({ path: join(top, kind, name), digest });
      }
    }
    return out;
  }

  private derivedPath(kind: string, digest: string): string {
    if (!KIND_RE.test(kind)) throw new StrataError("INVALID_ARGUMENT", `not a derived-record kind: ${kind}`);
    return join(this.root, "derived", kind, `${hexOf(digest)}.json`);
  }

  private async tmpPath(): Promise<string> {
    this.tmpReady ??= mkdir(this.tmpDir, { recursive: true }).then(() => undefined);
    await this.tmpReady;
    return join(this.tmpDir, `${process.pid}-${randomBytes(8).toString("hex")}`);
  }

  /** Moves a finished temp file into place, read-only; a concurrent writer of the same content is harmless. */
  private async commit(tmp: string, digest: string): Promise<void> {
    const target = this.path(digest);
    await chmod(tmp, 0o444);
    await mkdir(dirname(target), { recursive: true });
    await rename(tmp, target);
  }
}
