import { randomBytes } from "node:crypto";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { BlobStore } from "../../../src/artifacts/blob-store.js";
import type { StaticTree } from "../../../src/artifacts/static-tree.js";
import { buildStaticTree } from "../../../src/build/static/build-tree.js";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "strata-static-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const NOISE = randomBytes(2048);
const CSS = "body { color: red; }\n".repeat(200);

async function site(root: string, extra: Record<string, string> = {}): Promise<void> {
  await mkdir(join(root, "css"), { recursive: true });
  await mkdir(join(root, ".well-known"), { recursive: true });
  await writeFile(join(root, "index.html"), "<!doctype html><title>x</title>" + "<p>hello</p>".repeat(50));
  await writeFile(join(root, "css/app.css"), CSS);
  await writeFile(join(root, "logo.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
  await writeFile(join(root, "tiny.txt"), "hi");
  // Above the size threshold but incompressible: its compressed copies are not smaller and are dropped.
  await writeFile(join(root, "noise.txt"), NOISE);
  await writeFile(join(root, "app.yaml"), "runtime: static\n");
  await writeFile(join(root, ".stratignore"), "*.log\n");
  await writeFile(join(root, ".well-known/security.txt"), "Contact: x\n");
  for (const [name, body] of Object.entries(extra)) await writeFile(join(root, name), body);
}

test("buildStaticTree stores each file, its MIME type, ETag and smaller compressed copies", async (t) => {
  const dir = await tempDir(t);
  const blobs = new BlobStore(join(dir, "store"));
  await site(join(dir, "v1"));
  await symlink("css/app.css", join(dir, "v1", "style.css"));
  await symlink("/etc/passwd", join(dir, "v1", "passwd"));
  const lines: string[] = [];
  const result = await buildStaticTree(join(dir, "v1"), blobs, (l) => lines.push(l));
  const tree = await blobs.readJson<StaticTree>(result.treeDigest);
  assert.deepEqual(Object.keys(tree.files).sort(), [
    ".well-known/security.txt",
    "css/app.css",
    "index.html",
    "logo.png",
    "noise.txt",
    "style.css",
    "tiny.txt",
  ]);
  assert.equal(result.files, 7);
  const css = tree.files["css/app.css"]!;
  assert.equal(css.mime, "text/css");
  assert.equal(css.size, CSS.length);
  assert.match(css.etag, /^"[0-9a-f]{32}"$/);
  assert.equal(gunzipSync(await readFile(blobs.path(css.gzip!))).toString(), CSS);
  assert.equal(brotliDecompressSync(await readFile(blobs.path(css.br!))).toString(), CSS);
  assert.ok(css.brSize! < css.size && css.gzipSize! < css.size);
  assert.equal(tree.files["style.css"]!.digest, css.digest, "a symlink inside the upload serves its target");
  assert.equal(tree.files["logo.png"]!.mime, "image/png");
  assert.equal(tree.files["logo.png"]!.gzip, undefined, "binary types are not compressed");
  assert.equal(tree.files["tiny.txt"]!.gzip, undefined, "a file below MIN_PRECOMPRESS_BYTES is served as it is");
  assert.equal(tree.files["noise.txt"]!.gzip, undefined, "a compressed copy not smaller than the original is dropped");
  assert.equal(tree.files["noise.txt"]!.br, undefined);
  assert.ok(lines.some((l) => l.includes("skipping passwd")), lines.join("\n"));
});

test("the same content is compressed once across versions, and an equal upload gives the same tree", async (t) => {
  const dir = await tempDir(t);
  const blobs = new BlobStore(join(dir, "store"));
  await site(join(dir, "v1"));
  await site(join(dir, "v2"), { "copy.css": CSS });
  const lines: string[] = [];
  const first = await buildStaticTree(join(dir, "v1"), blobs, (l) => lines.push(l));
  assert.match(lines.at(-1)!, /precompressed 2, reused 0/);
  const again = await buildStaticTree(join(dir, "v1"), blobs, (l) => lines.push(l));
  assert.equal(again.treeDigest, first.treeDigest);
  assert.match(lines.at(-1)!, /precompressed 0, reused 2/);
  const second = await buildStaticTree(join(dir, "v2"), blobs, (l) => lines.push(l));
  assert.notEqual(second.treeDigest, first.treeDigest);
  assert.match(lines.at(-1)!, /precompressed 0, reused 3/, "copy.css has the same content as css/app.css");
});
