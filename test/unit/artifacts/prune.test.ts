import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, lstat, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { test } from "node:test";
import { BlobStore } from "../../../src/artifacts/blob-store.js";
import { pruneArtifacts, type ArtifactPruneResult } from "../../../src/artifacts/prune.js";
import type { StaticTree } from "../../../src/artifacts/static-tree.js";
import { IsolateBuilder, isolateBundlesDir } from "../../../src/build/isolate/index.js";
import { buildStaticTree } from "../../../src/build/static/index.js";
import { artifactRoots, ImageGc, summarize } from "../../../src/deploy/image-gc.js";
import { StrataHome } from "../../../src/home.js";
import { imagePaths } from "../../../src/images/catalog.js";
import { LayoutLock } from "../../../src/images/layout-lock.js";
import { OciLayout } from "../../../src/images/layout.js";
import { SqliteStore } from "../../../src/store/sqlite-store.js";
import type { Artifact, VersionRecord } from "../../../src/store/types.js";
import { pathExists } from "../../../src/system/fs.js";

const GRACE_MS = 10 * 60_000;
/** Text large enough to be precompressed (MIN_PRECOMPRESS_BYTES), so trees name gzip and brotli copies. */
const text = (word: string) => `${word} `.repeat(400);

async function artifactHome(t: { after: (fn: () => Promise<void>) => void }) {
  const root = await mkdtemp(join(tmpdir(), "strata-artifact-gc-"));
  const home = new StrataHome(root, join(root, "images"));
  const store = new SqliteStore(home.db);
  const blobs = new BlobStore(home.artifacts);
  t.after(async () => {
    store.close();
    await rm(root, { recursive: true, force: true });
  });
  return { root, home, store, blobs };
}

/** Builds a static tree from `files` with the real static builder. */
async function site(root: string, name: string, blobs: BlobStore, files: Record<string, string>): Promise<string> {
  const dir = join(root, "src", name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return (await buildStaticTree(dir, blobs)).treeDigest;
}

/** Every blob a tree names: the manifest, the files, their compressed copies. */
async function blobsOf(blobs: BlobStore, tree: string): Promise<Set<string>> {
  const out = new Set([tree]);
  for (const f of Object.values((await blobs.readJson<StaticTree>(tree)).files)) {
    for (const d of [f.digest, f.gzip, f.br]) if (d) out.add(d);
  }
  return out;
}

/** A bundle directory as the isolate builder leaves it. */
async function bundle(home: StrataHome, hex: string): Promise<Extract<Artifact, { kind: "isolate-bundle" }>> {
  const dir = join(isolateBundlesDir(home), hex);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "worker.js"), `export default { fetch() { return new Response("${hex}"); } };\n`.repeat(50));
  return { kind: "isolate-bundle", digest: `sha256:${hex}`, path: dir };
}

function version(store: SqliteStore, app: string, name: string, status: VersionRecord["status"], artifact: Artifact, extra: Partial<VersionRecord> = {}): void {
  if (!store.getApp(app)) store.createApp(app);
  store.putVersion({
    app, version: name, status, runtime: "static", spec: {}, sourceDigest: `sha256:${"0".repeat(64)}`, sizeBytes: 0,
    createdAt: new Date().toISOString(), artifact, ...extra,
  });
}

/** Every file under the store, relative to it. */
async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map((p) => relative(dir, join(dir, p))).sort();
}

async function backdate(path: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await utimes(path, then, then);
}

function prune(home: StrataHome, store: SqliteStore, blobs: BlobStore, opts: { dryRun: boolean; graceMs: number }, lines: string[] = []): Promise<ArtifactPruneResult> {
  return pruneArtifacts(blobs, { ...artifactRoots(store.listVersions()), bundlesDir: isolateBundlesDir(home), ...opts, onProgress: (l) => lines.push(l) });
}

/** A pid no process has: one that just exited. */
function deadPid(): number {
  return spawnSync("true").pid!;
}

test("the collector removes what only a deleted app and a failed version used, and keeps shared and kept content", async (t) => {
  const { root, home, store, blobs } = await artifactHome(t);
  const shared = { "style.css": text("shared-css"), "logo.bin": "binary-logo" };
  const treeA = await site(root, "a", blobs, { ...shared, "index.html": text("only-a") });
  const treeB = await site(root, "b", blobs, { ...shared, "index.html": text("only-b") });
  const treeFailed = await site(root, "failed", blobs, { ...shared, "index.html": text("failed-b") });
  version(store, "a", "v1", "ready", { kind: "static-tree", digest: treeA });
  version(store, "b", "v1", "ready", { kind: "static-tree", digest: treeB });
  version(store, "b", "broken", "failed", { kind: "static-tree", digest: treeFailed });
  // An app with code whose static handlers are served from a tree, and isolate bundles of a kept and a failed version.
  const treeHandlers = await site(root, "handlers", blobs, { "static/app.js": text("handlers") });
  version(store, "w", "v1", "ready", await bundle(home, "a".repeat(64)), { staticTree: treeHandlers });
  version(store, "w", "v0", "failed", await bundle(home, "b".repeat(64)));
  // Leftovers of a writer that died, and of a collector that died while removing a bundle.
  await mkdir(blobs.tmpDir, { recursive: true });
  await writeFile(join(blobs.tmpDir, `${deadPid()}-0123456789abcdef`), "half a blob");
  await mkdir(join(isolateBundlesDir(home), `${"c".repeat(64)}.tmp-${deadPid()}-gcdead`));

  const [a, b, failed, handlers] = await Promise.all([treeA, treeB, treeFailed, treeHandlers].map((tr) => blobsOf(blobs, tr)));
  const onlyA = [...a!].filter((d) => !b!.has(d));
  const onlyFailed = [...failed!].filter((d) => !b!.has(d) && !a!.has(d));
  const sharedBlobs = [...a!].filter((d) => b!.has(d));
  assert.equal(sharedBlobs.length, 4, "style.css, its gzip and brotli copies, logo.bin");
  assert.equal(onlyA.length, 4, "the manifest, index.html and its two compressed copies");
  const derived = join(home.artifacts, "derived", "precompressed");
  assert.equal((await readdir(derived)).length, 5, "one compression record per compressed content");

  store.deleteApp("a");
  const before = await listing(home.artifacts);
  const dry = await prune(home, store, blobs, { dryRun: true, graceMs: 0 });
  assert.deepEqual(await listing(home.artifacts), before, "a dry run removes nothing");

  const lines: string[] = [];
  const started = Date.now();
  const r = await prune(home, store, blobs, { dryRun: false, graceMs: 0 }, lines);
  const ms = Date.now() - started;
  assert.deepEqual(r, dry, "the dry run said what the run did");
  assert.equal(r.blobs.count, onlyA.length + onlyFailed.length);
  assert.ok(r.blobs.bytes > 0);
  assert.deepEqual(r.isolateBundles.count, 1);
  assert.equal(r.debris.count, 2, "the dead writer's temp file and the dead collector's bundle");
  assert.equal(r.recentKept, 0);
  for (const d of [...onlyA, ...onlyFailed]) assert.equal(await blobs.has(d), false, `${d} (only a deleted or failed version's) is gone`);
  for (const d of [...b!, ...handlers!]) assert.equal(await blobs.has(d), true, `${d} (a kept version's) stays`);
  assert.equal((await readdir(derived)).length, 3, "the compression records of removed contents go with them");
  assert.deepEqual(await readdir(isolateBundlesDir(home)), ["a".repeat(64)]);
  assert.deepEqual(await readdir(blobs.tmpDir), [], "no temp file or staging dir is left");
  assert.match(lines.join("\n"), /removed 8 artifact blob\(s\), \d+ bytes/);
  t.diagnostic(`removed ${r.blobs.count} blobs (${r.blobs.bytes} bytes), ${r.isolateBundles.count} bundle (${r.isolateBundles.bytes} bytes), ${r.debris.count} leftovers in ${ms} ms`);

  const again = await prune(home, store, blobs, { dryRun: false, graceMs: 0 });
  assert.deepEqual([again.blobs.count, again.isolateBundles.count, again.debris.count], [0, 0, 0], "a second run finds nothing");
  // The kept site still deploys and references what it did: a rebuild reuses every kept blob.
  assert.equal(await site(root, "b-again", blobs, { ...shared, "index.html": text("only-b") }), treeB);
});

test("unreferenced content changed within the grace period, reused by a build, or stored since a running build began stays", async (t) => {
  const { root, home, store, blobs } = await artifactHome(t);
  const old = await blobs.putBuffer(Buffer.from("stored an hour ago, referenced by nothing"));
  const fresh = await blobs.putBuffer(Buffer.from("stored just now by a build in progress"));
  const reused = await blobs.putBuffer(Buffer.from("stored long ago, stored again just now"));
  const oldBundle = await bundle(home, "d".repeat(64));
  const freshBundle = await bundle(home, "e".repeat(64));
  for (const path of [blobs.path(old.digest), blobs.path(reused.digest), oldBundle.path]) await backdate(path, 60 * 60_000);
  // A deploy storing a content already there touches it, as one reusing an earlier build's bundle would.
  await blobs.putBuffer(Buffer.from("stored long ago, stored again just now"));
  assert.equal(await pathExists(freshBundle.path), true);

  const r = await prune(home, store, blobs, { dryRun: false, graceMs: GRACE_MS });
  assert.equal(await blobs.has(old.digest), false);
  assert.equal(await pathExists(oldBundle.path), false);
  assert.equal(await blobs.has(fresh.digest), true, "a blob within the grace period stays");
  assert.equal(await blobs.has(reused.digest), true, "a blob stored again stays");
  assert.equal(await pathExists(freshBundle.path), true, "a bundle within the grace period stays");
  assert.deepEqual([r.blobs.count, r.isolateBundles.count, r.recentKept], [1, 1, 3]);

  // A version building for 30 minutes may have stored content 20 minutes ago that it records at the end.
  const midBuild = await blobs.putBuffer(Buffer.from("stored 20 minutes ago by a long build"));
  await backdate(blobs.path(midBuild.digest), 20 * 60_000);
  const tree = await site(root, "building", blobs, { "index.html": "<p>hi</p>" });
  version(store, "slow", "v1", "building", { kind: "static-tree", digest: tree }, { createdAt: new Date(Date.now() - 30 * 60_000).toISOString() });
  await prune(home, store, blobs, { dryRun: false, graceMs: GRACE_MS });
  assert.equal(await blobs.has(midBuild.digest), true, "stored since the oldest running build began");
  store.putVersion({ ...store.getVersion("slow", "v1")!, status: "failed" });
  await prune(home, store, blobs, { dryRun: false, graceMs: GRACE_MS });
  assert.equal(await blobs.has(midBuild.digest), false, "once that build failed, it goes");
});

test("an isolate build reusing a bundle an earlier deploy left touches it, so the grace period covers it", async (t) => {
  const { root, home } = await artifactHome(t);
  const sourceDir = join(root, "worker");
  await cp(join(import.meta.dirname, "..", "..", "fixtures", "apps", "isolate-ts"), sourceDir, { recursive: true });
  const req = { app: "w", version: "v1", kind: "workers" as const, sourceDir, spec: undefined, home, log: () => {} };
  const first = await new IsolateBuilder().build(req);
  assert.equal(first.artifact.kind, "isolate-bundle");
  const dir = (first.artifact as { path: string }).path;
  await backdate(dir, 60 * 60_000);
  const again = await new IsolateBuilder().build({ ...req, version: "v2" });
  assert.deepEqual(again, first, "the same bundle, path and size");
  assert.ok(Date.now() - (await lstat(dir)).mtimeMs < GRACE_MS, "touched");
  assert.deepEqual(await readdir(home.builds), [], "the second build's own output is removed");
});

test("ImageGc runs the artifact collection with the image collection and reports it", async (t) => {
  const { home, store, blobs, root } = await artifactHome(t);
  const layout = new OciLayout(imagePaths(home).layout);
  await layout.init();
  const gc = new ImageGc({ home, store, layout, lock: new LayoutLock(imagePaths(home).locks), blobs, pruneLayerCopies: async () => ({ count: 0, bytes: 0 }), warn: (m) => assert.fail(m) });
  const tree = await site(root, "gone", blobs, { "index.html": text("gone"), "a.txt": "a" });
  const removable = await blobsOf(blobs, tree);
  for (const d of removable) await backdate(blobs.path(d), 60 * 60_000);
  const r = await gc.prune({ dryRun: false, buildCache: false });
  assert.equal(r.artifacts.blobs.count, removable.size);
  assert.ok(r.bytesFreed >= r.artifacts.blobs.bytes && r.artifacts.blobs.bytes > 0);
  assert.match(summarize(r), new RegExp(`^removed ${removable.size} artifact blob\\(s\\), `));
  for (const d of removable) assert.equal(await blobs.has(d), false);
});
