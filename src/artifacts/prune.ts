import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { StrataError } from "../errors.js";
import { isAbandonedTmp, removeCounted, totalDiskUsage, type Removed } from "../system/disk.js";
import { ignoreMissing } from "../system/fs.js";
import { processExists } from "../system/process.js";
import type { BlobStore } from "./blob-store.js";
import type { StaticTree } from "./static-tree.js";

/**
 * Garbage collection of the artifact store: every blob, derived record and isolate bundle that no kept
 * version reaches goes, and so do writers' leftovers in its tmp dir. The caller (deploy/image-gc.ts)
 * says what the kept versions reference; this walks static tree manifests to their file blobs and
 * compressed copies.
 *
 * Concurrency: builds write here without a lock, and record the version referencing what they wrote only
 * once the build is done. So an unreferenced blob or bundle changed within the grace period (or since
 * the oldest running build began) stays: a build in progress may be about to reference it. A build that
 * reuses content already stored touches it (BlobStore.reuse, the isolate builder) rather than skipping
 * it, so reused content counts as changed too. The check and the removal are not one step, so a doomed
 * entry is first renamed away (atomic: a writer touching it afterwards finds it gone and writes it
 * again), then checked once more and put back if a writer touched it in between. The router serves only
 * versions the store still has, whose content is reachable and never considered.
 */

export interface ArtifactRoots {
  /** Static tree manifests: each keeps itself, its files' blobs and their compressed copies. */
  trees: Iterable<string>;
  /** Isolate bundle directory names (digest hex) a kept version runs. */
  bundles: Iterable<string>;
}

export interface ArtifactPruneOptions {
  roots: ArtifactRoots;
  /** Where isolate bundles are kept (isolateBundlesDir in build/isolate). */
  bundlesDir: string;
  /** Unreferenced content changed less than this long ago stays (see above). 0: none does. */
  graceMs: number;
  /** When the oldest build still running began (epoch ms): content changed since then stays too. */
  buildsSince?: number;
  dryRun: boolean;
  onProgress: (line: string) => void;
}

export interface ArtifactPruneResult {
  /** Content blobs (static files, their compressed copies, manifests); bytes include their derived records. */
  blobs: Removed;
  isolateBundles: Removed;
  /** Writers' temp files: of processes that died, or older than the grace period. */
  debris: Removed;
  /** Unreferenced blobs and bundles kept because they changed within the grace period. */
  recentKept: number;
}

const HEX64 = /^[a-f0-9]{64}$/;

export async function pruneArtifacts(store: BlobStore, opts: ArtifactPruneOptions): Promise<ArtifactPruneResult> {
  const cutoff = Math.min(opts.graceMs > 0 ? Date.now() - opts.graceMs : Infinity, opts.buildsSince ?? Infinity);
  const isOld = async (path: string) => (await lstat(path)).mtimeMs < cutoff;
  const verb = opts.dryRun ? "would remove" : "removed";
  const reachable = await reachableBlobs(store, opts.roots, opts.onProgress);
  const staging = join(store.tmpDir, `${process.pid}-gc-${randomBytes(6).toString("hex")}`);
  if (!opts.dryRun) await mkdir(staging, { recursive: true });
  let recentKept = 0;

  /** Renames `path` to `doomed` unless a writer touched it; true when it is now at `doomed`. */
  const takeAway = async (path: string, doomed: string): Promise<boolean> => {
    await rename(path, doomed);
    if (await isOld(doomed)) return true;
    // Touched between the check and the rename: put back, unless a writer has stored it again meanwhile.
    await rename(doomed, path).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
      await rm(doomed, { recursive: true, force: true });
    });
    recentKept++;
    return false;
  };

  try {
    // Blobs, then the derived records of the removed ones and of blobs gone earlier, measured together.
    const doomed: string[] = [];
    const gone = new Set<string>();
    for (const digest of await store.digests()) {
      if (reachable.has(digest)) continue;
      const path = store.path(digest);
      if (!(await isOld(path))) {
        recentKept++;
        continue;
      }
      const to = opts.dryRun ? path : join(staging, digest.slice("sha256:".length));
      if (opts.dryRun || (await takeAway(path, to))) {
        doomed.push(to);
        gone.add(digest);
      }
    }
    const blobCount = doomed.length;
    for (const record of await store.derivedRecords()) {
      const sourceGone = gone.has(record.digest) || !(await store.has(record.digest));
      if (!sourceGone) continue;
      const to = opts.dryRun ? record.path : join(staging, `${basename(dirname(record.path))}-${basename(record.path)}`);
      if (!opts.dryRun) await rename(record.path, to);
      doomed.push(to);
    }
    const blobs: Removed = { count: blobCount, bytes: await totalDiskUsage(doomed) };
    if (blobs.count) opts.onProgress(`${verb} ${blobs.count} artifact blob(s), ${blobs.bytes} bytes`);

    const isolateBundles: Removed = { count: 0, bytes: 0 };
    const debris: Removed = { count: 0, bytes: 0 };
    const keptBundles = new Set(opts.roots.bundles);
    for (const name of await readdir(opts.bundlesDir).catch(ignoreMissing([] as string[]))) {
      const dir = join(opts.bundlesDir, name);
      if (isAbandonedTmp(name)) {
        await removeCounted(dir, debris, opts.dryRun, () => rm(dir, { recursive: true, force: true }));
        continue;
      }
      if (!HEX64.test(name) || keptBundles.has(name)) continue;
      if (!(await isOld(dir))) {
        recentKept++;
        continue;
      }
      // Renamed beside itself, with the name of unfinished work, so a crash midway leaves debris (above).
      const to = opts.dryRun ? dir : `${dir}.tmp-${process.pid}-gc${randomBytes(4).toString("hex")}`;
      if (opts.dryRun || (await takeAway(dir, to))) await removeCounted(to, isolateBundles, opts.dryRun, () => rm(to, { recursive: true, force: true }));
    }
    if (isolateBundles.count) opts.onProgress(`${verb} ${isolateBundles.count} isolate bundle(s), ${isolateBundles.bytes} bytes`);

    // Writers name their temp files `<pid>-…`; this run's staging dir is removed below.
    for (const name of await readdir(store.tmpDir).catch(ignoreMissing([] as string[]))) {
      const path = join(store.tmpDir, name);
      if (path === staging) continue;
      const pid = Number(/^(\d+)-/.exec(name)?.[1]);
      const writerGone = pid > 0 && !processExists(pid);
      if (!writerGone && !(await isOld(path))) continue;
      await removeCounted(path, debris, opts.dryRun, () => rm(path, { recursive: true, force: true }));
    }
    if (debris.count) opts.onProgress(`${verb} ${debris.count} leftover(s) in the artifact store, ${debris.bytes} bytes`);
    if (recentKept) opts.onProgress(`kept ${recentKept} unreferenced artifact(s) changed within the grace period (a build may be about to use them)`);
    return { blobs, isolateBundles, debris, recentKept };
  } finally {
    if (!opts.dryRun) await rm(staging, { recursive: true, force: true });
  }
}

/** Every blob the roots reach: each tree's manifest, its files and their compressed copies. */
async function reachableBlobs(store: BlobStore, roots: ArtifactRoots, onProgress: (line: string) => void): Promise<Set<string>> {
  const reachable = new Set<string>();
  for (const tree of roots.trees) {
    reachable.add(tree);
    let manifest: StaticTree;
    try {
      manifest = await store.readJson<StaticTree>(tree);
    } catch (err) {
      // Its version cannot be served anyway, and what its files were is unknowable: say so, go on.
      if (err instanceof StrataError && err.code === "NOT_FOUND") {
        onProgress(`the static tree ${tree} of a kept version is missing from the artifact store`);
        continue;
      }
      throw err;
    }
    for (const file of Object.values(manifest.files)) {
      reachable.add(file.digest);
      if (file.gzip) reachable.add(file.gzip);
      if (file.br) reachable.add(file.br);
    }
  }
  return reachable;
}
