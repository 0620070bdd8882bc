import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { BlobStore } from "../../../src/artifacts/blob-store.js";
import { StrataError } from "../../../src/errors.js";

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "strata-blobs-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const sha = (s: string | Buffer): string => `sha256:${createHash("sha256").update(s).digest("hex")}`;

test("putFile stores by sha256 under sha256/<2 hex>/<rest> and dedupes equal content", async (t) => {
  const dir = await tempDir(t);
  const blobs = new BlobStore(join(dir, "store"));
  await writeFile(join(dir, "a.txt"), "hello");
  await writeFile(join(dir, "b.txt"), "hello");
  const a = await blobs.putFile(join(dir, "a.txt"));
  const b = await blobs.putFile(join(dir, "b.txt"));
  assert.equal(a.digest, sha("hello"));
  assert.equal(a.size, 5);
  assert.deepEqual(a, b);
  const hex = a.digest.slice(7);
  assert.equal(blobs.path(a.digest), join(dir, "store", "sha256", hex.slice(0, 2), hex.slice(2)));
  assert.deepEqual(await readdir(join(dir, "store", "sha256")), [hex.slice(0, 2)]);
  assert.deepEqual(await readdir(join(dir, "store", "sha256", hex.slice(0, 2))), [hex.slice(2)]);
  assert.deepEqual(await readdir(join(dir, "store", "tmp")), [], "no temp files are left behind");
  assert.equal(await blobs.has(a.digest), true);
  assert.equal(await blobs.has(sha("other")), false);
});

test("putBuffer, putJson and readJson round-trip; putStream dedupes against existing blobs", async (t) => {
  const blobs = new BlobStore(await tempDir(t));
  const buf = await blobs.putBuffer(Buffer.from("abc"));
  assert.equal(buf.digest, sha("abc"));
  const streamed = await blobs.putStream(Readable.from([Buffer.from("a"), Buffer.from("bc")]));
  assert.deepEqual(streamed, buf);
  const json = await blobs.putJson({ x: [1, 2] });
  assert.deepEqual(await blobs.readJson(json.digest), { x: [1, 2] });
  assert.equal(await readFile(blobs.path(buf.digest), "utf8"), "abc");
});

test("putStream past maxBytes fails with ARCHIVE_TOO_LARGE and keeps nothing", async (t) => {
  const root = await tempDir(t);
  const blobs = new BlobStore(root);
  await assert.rejects(
    blobs.putStream(Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), { maxBytes: 1000 }),
    (err: StrataError) => err.code === "ARCHIVE_TOO_LARGE",
  );
  assert.deepEqual(await readdir(join(root, "tmp")), []);
});

test("path() validates the digest so it can never traverse", async (t) => {
  const blobs = new BlobStore(await tempDir(t));
  for (const bad of ["sha256:../../etc/passwd", "sha256:ABC", `sha512:${"a".repeat(64)}`, `sha256:${"a".repeat(63)}/`, ""]) {
    assert.throws(() => blobs.path(bad), (err: StrataError) => err.code === "INVALID_ARGUMENT", bad);
  }
  await assert.rejects(blobs.readJson(sha("missing")), (err: StrataError) => err.code === "NOT_FOUND");
});

test("derived records are kept per source digest", async (t) => {
  const blobs = new BlobStore(await tempDir(t));
  const { digest } = await blobs.putBuffer(Buffer.from("x"));
  assert.equal(await blobs.readDerived("precompressed", digest), undefined);
  await blobs.writeDerived("precompressed", digest, { gzip: null });
  assert.deepEqual(await blobs.readDerived("precompressed", digest), { gzip: null });
  await assert.rejects(blobs.writeDerived("../x", digest, {}), (err: StrataError) => err.code === "INVALID_ARGUMENT");
});
