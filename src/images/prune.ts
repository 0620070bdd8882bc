import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { isAbandonedTmp, removeCounted, removeTree, unchangedFor, type Removed } from "../system/disk.js";
import { ignoreMissing } from "../system/fs.js";
import { processExists } from "../system/process.js";
import { MEDIA_TYPES, REF_ANNOTATION, type Descriptor, type ImageManifest, type OciLayout } from "./layout.js";

/**
 * Garbage collection of the OCI layout and the layers unpacked from it. The caller decides which refs go
 * (policy: image-gc.ts); this removes them, then every blob no remaining manifest reaches, every unpacked
 * layer no remaining image has (unless an overlay mount uses it), and the debris of crashed writers.
 * The caller holds the layout's LayoutLock as collector, so no writer has blobs in flight.
 */
export interface LayoutPruneOptions {
  removeRefs: readonly string[];
  /** Layers (hex digests) some overlay mount uses right now: their unpacked dirs stay. */
  inUse: ReadonlySet<string>;
  /** imagePaths(home).unpacked */
  unpackedDir: string;
  dryRun: boolean;
  /**
   * Leave blobs and layer dirs that changed more recently than this: for a layout shared with processes
   * that write without taking the lock (tests, tools), whose fresh blobs may not be tagged yet. 0: none.
   */
  minAgeMs: number;
  onProgress: (line: string) => void;
}

export type { Removed } from "../system/disk.js";

export interface LayoutPruneResult {
  refs: string[];
  blobs: Removed;
  unpacked: Removed;
  /** Temporary files and half-written dirs left by processes that died. */
  debris: Removed;
  /** Unreferenced layers kept because a mount uses them. */
  inUseKept: number;
  /** Every layer (hex) the remaining images have: shifted copies of others can go too. */
  keptLayers: Set<string>;
}

const HEX = /^[a-f0-9]{64}$/;

export async function pruneLayout(layout: OciLayout, opts: LayoutPruneOptions): Promise<LayoutPruneResult> {
  const { dryRun, onProgress: log } = opts;
  await layout.init();
  const doomed = new Set(opts.removeRefs);
  for (const ref of opts.removeRefs) {
    log(`${dryRun ? "would remove" : "removing"} image ${ref}`);
    if (!dryRun) await layout.untag(ref);
  }
  const roots = (await layout.roots()).filter((d) => !doomed.has(d.annotations?.[REF_ANNOTATION] ?? ""));
  const { blobs: reachable, layers: keptLayers } = await reachableFrom(layout, roots);

  const blobs: Removed = { count: 0, bytes: 0 };
  const blobDir = join(layout.dir, "blobs", "sha256");
  for (const hex of await readdir(blobDir)) {
    if (!HEX.test(hex) || reachable.has(hex)) continue;
    const path = join(blobDir, hex);
    if (!(await unchangedFor(path, opts.minAgeMs))) continue;
    blobs.count++;
    blobs.bytes += (await stat(path)).size;
    if (!dryRun) await rm(path, { force: true });
  }
  if (blobs.count) log(`${dryRun ? "would remove" : "removed"} ${blobs.count} blob(s), ${blobs.bytes} bytes`);

  const unpacked: Removed = { count: 0, bytes: 0 };
  const debris: Removed = { count: 0, bytes: 0 };
  let inUseKept = 0;
  for (const name of await readdir(opts.unpackedDir).catch(ignoreMissing([] as string[]))) {
    const dir = join(opts.unpackedDir, name);
    if (isAbandonedTmp(name)) {
      await removeCounted(dir, debris, dryRun, () => rm(dir, { recursive: true, force: true }));
      continue;
    }
    if (!HEX.test(name) || keptLayers.has(name)) continue;
    if (opts.inUse.has(name)) {
      inUseKept++;
      continue;
    }
    if (!(await unchangedFor(dir, opts.minAgeMs))) continue;
    const bytes = await removeCounted(dir, unpacked, dryRun, () => removeTree(dir));
    log(`${dryRun ? "would remove" : "removed"} unpacked layer ${name.slice(0, 12)} (${bytes} bytes)`);
  }
  if (inUseKept) log(`kept ${inUseKept} unreferenced unpacked layer(s) that a mounted overlay uses`);

  // Writers' temporary files and staging layouts are named `<pid>-…` / `staging-<pid>-…`.
  const tmpDir = join(layout.dir, "tmp");
  for (const name of await readdir(tmpDir).catch(ignoreMissing([] as string[]))) {
    const pid = Number(/^(?:staging-)?(\d+)-/.exec(name)?.[1]);
    if (!(pid > 0) || processExists(pid)) continue;
    const path = join(tmpDir, name);
    await removeCounted(path, debris, dryRun, () => rm(path, { recursive: true, force: true }));
  }
  if (debris.count) log(`${dryRun ? "would remove" : "removed"} ${debris.count} leftover(s) of crashed writers, ${debris.bytes} bytes`);
  return { refs: [...doomed], blobs, unpacked, debris, inUseKept, keptLayers };
}

/** Blobs (hex) reachable from `roots`, and the layers among them. */
async function reachableFrom(layout: OciLayout, roots: readonly Descriptor[]): Promise<{ blobs: Set<string>; layers: Set<string> }> {
  const blobs = new Set<string>();
  const layers = new Set<string>();
  const hexOf = (d: Descriptor) => d.digest.replace(/^sha256:/, "");
  const visit = async (d: Descriptor): Promise<void> => {
    if (blobs.has(hexOf(d))) return;
    blobs.add(hexOf(d));
    if (d.mediaType === MEDIA_TYPES.index) {
      const index = await layout.readJsonBlob<{ manifests?: Descriptor[] }>(d.digest);
      for (const m of index.manifests ?? []) await visit(m);
    } else if (d.mediaType === MEDIA_TYPES.manifest) {
      const manifest = await layout.readJsonBlob<ImageManifest>(d.digest);
      blobs.add(hexOf(manifest.config));
      for (const l of manifest.layers) {
        blobs.add(hexOf(l));
        layers.add(hexOf(l));
      }
    }
  };
  for (const root of roots) await visit(root);
  return { blobs, layers };
}
