import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BlobStore } from "../../../src/artifacts/blob-store.js";
import { ImageGc, type ImagePruneResult } from "../../../src/deploy/image-gc.js";
import { BUILD_CACHE_LABEL } from "../../../src/build/image-builder.js";
import { Buildah } from "../../../src/build/dockerfile/buildah.js";
import { StrataHome } from "../../../src/home.js";
import { imagePaths } from "../../../src/images/catalog.js";
import { importImage } from "../../../src/images/import.js";
import { LayoutLock } from "../../../src/images/layout-lock.js";
import { OciLayout, type Layer } from "../../../src/images/layout.js";
import { layerDigestsOf } from "../../../src/images/mounted-layers.js";
import { unpackLayers } from "../../../src/images/unpack.js";
import { pruneDriversShiftedLayers, shiftedLayers, shiftedLayersDir } from "../../../src/sandbox/oci/shifted-layers.js";
import { SqliteStore } from "../../../src/store/sqlite-store.js";
import { exec } from "../../../src/system/exec.js";
import { pathExists } from "../../../src/system/fs.js";
import { imageToolsMissing } from "./shared-store.js";

const missing = await imageToolsMissing(["tar", "mount", "du", "cp"]);
const ID_MAP = { hostId: 100_000, size: 65_536 };

const hex = (l: Layer) => l.descriptor.digest.slice("sha256:".length);

/** A temp STRATA_HOME with its images inside it (an unshared layout), its store, layout, lock and GC. */
async function gcHome(t: { after: (fn: () => Promise<void>) => void }) {
  const root = await mkdtemp(join(tmpdir(), "strata-gc-"));
  const home = new StrataHome(root, join(root, "images"));
  const store = new SqliteStore(home.db);
  const layout = new OciLayout(imagePaths(home).layout);
  await layout.init();
  const lock = new LayoutLock(imagePaths(home).locks);
  const warnings: string[] = [];
  const gc = new ImageGc({ home, store, layout, lock, blobs: new BlobStore(home.artifacts), pruneLayerCopies: (keep, o) => pruneDriversShiftedLayers(home, ["runc", "isolate"], keep, o), warn: (m) => warnings.push(m) });
  t.after(async () => {
    await gc.idle();
    store.close();
    await rm(root, { recursive: true, force: true });
  });
  return { root, home, store, layout, lock, gc, warnings };
}

async function layerOf(layout: OciLayout, dir: string, files: Record<string, string>): Promise<Layer> {
  for (const [p, text] of Object.entries(files)) {
    await mkdir(join(dir, p, ".."), { recursive: true });
    await writeFile(join(dir, p), text);
  }
  return layout.addLayerFromDir(dir);
}

function deployed(store: SqliteStore, app: string, ref: string, digest: string): void {
  store.createApp(app);
  store.putVersion({
    app, version: "v1", status: "ready", runtime: "python311", driver: "runc", spec: {}, sourceDigest: "sha256:0", sizeBytes: 0,
    createdAt: new Date().toISOString(), artifact: { kind: "oci", digest, path: "", ref },
  });
}

/** A pid no process has: one that just exited. */
function deadPid(): number {
  return spawnSync("true").pid!;
}

test("mounted overlays name the layers they stand on, relative lower dirs included", () => {
  const a = "a".repeat(64);
  const b = "b".repeat(64);
  const info = [
    `58 26 0:48 / /x/rootfs rw,relatime - overlay overlay rw,lowerdir=${a}-100000-65536:${b}-100000-65536,upperdir=/x/upper,workdir=/x/work,uuid=on`,
    `59 26 0:49 / /y rw - overlay strata-step ro,lowerdir=/h/images/unpacked/${b}:/h/images/unpacked/notalayer,redirect_dir=off`,
    `60 26 8:1 / /z rw - ext4 /dev/sda1 rw,lowerdir=/h/images/unpacked/${"c".repeat(64)}`,
  ].join("\n");
  assert.deepEqual([...layerDigestsOf(info)].sort(), [a, b]);
});

test("prune removes what only a deleted app used, keeps shared and base layers, and what a mount uses", { skip: missing ?? false, timeout: 120_000 }, async (t) => {
  const { root, home, store, layout, gc } = await gcHome(t);
  const paths = imagePaths(home);

  // A base image imported from a rootfs tarball, and two apps built on it, each with a dependency cache.
  const baseTree = join(root, "src", "base");
  await mkdir(join(baseTree, "etc"), { recursive: true });
  await writeFile(join(baseTree, "etc", "os-release"), "ID=gc-test\n");
  await exec(["tar", "--create", "--file", join(root, "base.tar"), "--directory", baseTree, "."]);
  const base = await layout.resolve((await importImage(layout, join(root, "base.tar"), "gcbase:1")).image.ref!);
  const baseLayer: Layer = { descriptor: base.manifest.layers[0]!, diffId: base.config.rootfs.diff_ids[0]! };
  const depsA = await layerOf(layout, join(root, "src", "deps-a"), { "deps/a.py": "A deps ".repeat(5000) });
  const depsB = await layerOf(layout, join(root, "src", "deps-b"), { "deps/b.js": "B deps ".repeat(20000) });
  const codeA = await layerOf(layout, join(root, "src", "code-a"), { "app/main.py": "print('a')\n" });
  const codeB = await layerOf(layout, join(root, "src", "code-b"), { "app/server.js": "console.log('b')\n" });
  await layout.writeImage([baseLayer, depsA], {}, "cache/python-deps:aaaa");
  await layout.writeImage([baseLayer, depsB], {}, "cache/node-deps:bbbb");
  const imageA = await layout.writeImage([baseLayer, depsA, codeA], {}, "apps/a:v1");
  const imageB = await layout.writeImage([baseLayer, depsB, codeB], {}, "apps/b:v1");
  deployed(store, "a", imageA.ref!, imageA.digest);
  deployed(store, "b", imageB.ref!, imageB.digest);
  // A failed build's image: no version that is ready or building refers to it.
  const failed = await layout.writeImage([baseLayer, await layerOf(layout, join(root, "src", "broken"), { "app/x": "x" })], {}, "apps/a:broken");
  store.putVersion({ ...store.getVersion("a", "v1")!, version: "broken", status: "failed", artifact: { kind: "oci", digest: failed.digest, path: "", ref: failed.ref! } });

  // Both apps ran: layers unpacked and uid-shifted for runc; a crashed unpacker and writer left debris.
  const shiftedDir = shiftedLayersDir(home, "runc");
  for (const ref of ["apps/a:v1", "apps/b:v1"]) await shiftedLayers(await unpackLayers(layout, await layout.resolve(ref), paths.unpacked), ID_MAP, shiftedDir);
  await mkdir(join(paths.unpacked, `${hex(codeB)}.tmp-${deadPid()}-dead`));
  await writeFile(join(paths.layout, "tmp", `${deadPid()}-0123456789ab`), "half a blob");

  store.deleteApp("b");
  const dry = await gc.prune({ dryRun: true, buildCache: true });
  assert.deepEqual([...dry.images].sort(), ["apps/a:broken", "apps/b:v1", "cache/node-deps:bbbb"]);
  assert.ok(await pathExists(layout.blobPath(depsB.descriptor.digest)), "a dry run removes nothing");
  assert.ok(await layout.find("apps/b:v1"));

  const lines: string[] = [];
  const started = Date.now();
  const r = await gc.prune({ dryRun: false, buildCache: true }, (l) => lines.push(l));
  t.diagnostic(`prune freed ${r.bytesFreed} bytes in ${Date.now() - started} ms: ${JSON.stringify({ ...r, images: r.images.length })}`);
  assert.deepEqual([...r.images].sort(), [...dry.images].sort());
  assert.equal(r.bytesFreed, dry.bytesFreed, "the dry run announced what the prune freed");
  assert.equal(r.sharedLayout, false);
  assert.equal(r.unpackedLayers.count, 2, "depsB and codeB (the broken build was never unpacked)");
  assert.equal(r.shiftedLayers.count, 2);
  assert.equal(r.debris.count, 2);
  assert.ok(r.bytesFreed >= depsB.descriptor.size + 2 * 140_000, `freed ${r.bytesFreed}`);
  assert.ok(lines.some((l) => l.includes("apps/b:v1")), lines.join("\n"));

  for (const gone of [depsB, codeB]) {
    assert.equal(await pathExists(layout.blobPath(gone.descriptor.digest)), false, "the unique blob is gone");
    assert.equal(await pathExists(join(paths.unpacked, hex(gone))), false);
    assert.equal(await pathExists(join(shiftedDir, `${hex(gone)}-${ID_MAP.hostId}-${ID_MAP.size}`)), false);
  }
  for (const kept of [baseLayer, depsA, codeA]) {
    assert.ok(await pathExists(layout.blobPath(kept.descriptor.digest)), "shared and live layers stay");
    assert.ok(await pathExists(join(paths.unpacked, hex(kept))));
    assert.ok(await pathExists(join(shiftedDir, `${hex(kept)}-${ID_MAP.hostId}-${ID_MAP.size}`)));
  }
  assert.deepEqual((await layout.list()).map((i) => i.ref).sort(), ["apps/a:v1", "cache/python-deps:aaaa", "imported/gcbase:1"]);
  assert.deepEqual((await readdir(paths.unpacked)).sort(), [baseLayer, codeA, depsA].map(hex).sort(), "debris gone too");
  assert.deepEqual(await readdir(join(paths.layout, "tmp")), []);
  const again = await gc.prune({ dryRun: false, buildCache: true });
  assert.equal(again.bytesFreed, 0, "a second prune finds nothing");

  // App a is deleted while an instance still runs on its layers (an overlay like the driver's: relative lower dirs).
  const mnt = join(root, "instance");
  for (const d of ["upper", "work", "rootfs"]) await mkdir(join(mnt, d), { recursive: true });
  const lowers = [codeA, depsA].map((l) => `${hex(l)}-${ID_MAP.hostId}-${ID_MAP.size}`).join(":");
  await exec(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${lowers},upperdir=${join(mnt, "upper")},workdir=${join(mnt, "work")}`, join(mnt, "rootfs")], { cwd: shiftedDir });
  let mounted = true;
  t.after(async () => {
    if (mounted) await exec(["umount", join(mnt, "rootfs")]);
  });
  store.deleteApp("a");
  const whileRunning = await gc.prune({ dryRun: false, buildCache: true });
  assert.deepEqual([...whileRunning.images].sort(), ["apps/a:v1", "cache/python-deps:aaaa"]);
  assert.equal(whileRunning.inUseKept, 2);
  for (const l of [codeA, depsA]) {
    assert.ok(await pathExists(join(paths.unpacked, hex(l))), "an unpacked layer a mount uses stays");
    assert.ok(await pathExists(join(shiftedDir, `${hex(l)}-${ID_MAP.hostId}-${ID_MAP.size}`)), "a shifted layer a mount uses stays");
    assert.equal(await pathExists(layout.blobPath(l.descriptor.digest)), false, "its blob goes: the mount does not need it");
  }
  assert.equal((await readdir(join(mnt, "rootfs", "app"))).join(), "main.py", "the instance's root still reads");

  await exec(["umount", join(mnt, "rootfs")]);
  mounted = false;
  const afterStop = await gc.prune({ dryRun: false, buildCache: true });
  assert.equal(afterStop.unpackedLayers.count, 2);
  assert.equal(afterStop.shiftedLayers.count, 2);
  assert.deepEqual(await readdir(paths.unpacked), [hex(baseLayer)], "only the base image's layer is left");
});

test("a build-only cache (a Maven repository, compiled crates) lives while a kept app image names it in its labels", { skip: missing ?? false }, async (t) => {
  const { root, store, layout, gc } = await gcHome(t);
  const repo = await layerOf(layout, join(root, "src", "m2"), { "m2/org/x.jar": "jar ".repeat(1000) });
  const jar = await layerOf(layout, join(root, "src", "jar"), { "app/app.jar": "app" });
  await layout.writeImage([repo], {}, "cache/maven-repo:kept");
  await layout.writeImage([repo], {}, "cache/maven-repo:stale");
  const image = await layout.writeImage([jar], { Labels: { [BUILD_CACHE_LABEL]: "cache/maven-repo:kept" } }, "apps/j:v1");
  deployed(store, "j", image.ref!, image.digest);
  const kept = await gc.prune({ dryRun: true, buildCache: false });
  assert.deepEqual(kept.images, ["cache/maven-repo:stale"], "the cache the app's image names stays; one nothing names goes");
  store.deleteApp("j");
  const gone = await gc.prune({ dryRun: true, buildCache: false });
  assert.deepEqual([...gone.images].sort(), ["apps/j:v1", "cache/maven-repo:kept", "cache/maven-repo:stale"]);
});

test("a prune waits for a build writing into the layout, and never takes its untagged blobs", { skip: missing ?? false }, async (t) => {
  const { root, layout, lock, gc } = await gcHome(t);
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let written!: () => void;
  const blobWritten = new Promise<void>((r) => (written = r));
  const order: string[] = [];
  const build = lock.write(async () => {
    const layer = await layerOf(layout, join(root, "src", "l"), { "f": "content" });
    written();
    await released; // the build goes on; its layer is not in any image yet
    await layout.writeImage([layer], {}, "base/built:1");
    order.push("tagged");
    return layer;
  });
  await blobWritten;
  const waits: string[] = [];
  const pruning = gc.prune({ dryRun: false, buildCache: true }, (l) => waits.push(l)).then((r) => {
    order.push("pruned");
    return r;
  });
  // The prune announces that it waits (it polls the writer's lease), then the build finishes.
  while (!waits.some((l) => l.startsWith("waiting for 1 build"))) await new Promise((r) => setTimeout(r, 50));
  release();
  const layer = await build;
  const r: ImagePruneResult = await pruning;
  assert.deepEqual(order, ["tagged", "pruned"]);
  assert.equal(r.blobs.count, 0);
  assert.ok(await pathExists(layout.blobPath(layer.descriptor.digest)));
});

test("background GC after a delete records its result as an event", { skip: missing ?? false }, async (t) => {
  const { store, gc, warnings } = await gcHome(t);
  gc.runInBackground("deleting app x");
  gc.runInBackground("deleting app y"); // arrives while the first runs: one more run after it
  await gc.idle();
  const events = store.listEvents({ limit: 10 }).filter((e) => e.type === "images.pruned");
  assert.deepEqual(events.map((e) => e.message.split(":")[0]), ["image GC after deleting app x", "image GC after deleting app y"]);
  assert.match(events[0]!.message, /nothing to remove/);
  assert.deepEqual(warnings, []);
});

test("buildah's dangling images go, tagged ones stay", { skip: (missing ?? (await imageToolsMissing(["buildah"]))) ?? false, timeout: 120_000 }, async (t) => {
  const { root, home, gc } = await gcHome(t);
  const buildah = new Buildah(home);
  try {
    await mkdir(buildah.runroot, { recursive: true });
    const ctr = (await buildah.run(["from", "scratch"])).stdout.trim();
    await writeFile(join(root, "payload"), "x".repeat(100_000));
    await buildah.run(["copy", ctr, join(root, "payload"), "/payload"]);
    const dangling = (await buildah.run(["commit", "--quiet", ctr])).stdout.trim().replace(/^sha256:/, "");
    await buildah.run(["commit", "--quiet", ctr, "kept:1"]);
    await buildah.run(["rm", ctr]);
    const dry = await gc.prune({ dryRun: true, buildCache: true });
    assert.deepEqual(dry.buildah.images, [dangling]);
    const r = await gc.prune({ dryRun: false, buildCache: true });
    assert.deepEqual(r.buildah.images, [dangling]);
    assert.equal(await buildah.hasImage(dangling), false);
    assert.ok(await buildah.hasImage("kept:1"));
  } finally {
    await buildah.destroyStorage(); // before gcHome's clean-up removes the home: the storage may be mounted
  }
});
