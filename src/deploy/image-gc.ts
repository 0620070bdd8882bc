import { join } from "node:path";
import { type ArtifactPruneResult, type ArtifactRoots, type BlobStore, pruneArtifacts } from "../artifacts/index.js";
import { appImageRef, BUILD_CACHE_LABEL, Buildah, buildahPaths, isolateBundlesDir } from "../build/index.js";
import { asStrataError } from "../errors.js";
import type { StrataHome } from "../home.js";
import { type ImageConfig, type ImageManifest, imagePaths, type LayoutLock, mountedLayerDigests, type OciLayout, pruneLayout, type Removed } from "../images/index.js";
import type { NewEvent, Store, VersionRecord } from "../store/index.js";
import { diskUsage } from "../system/disk.js";
import { pathExists } from "../system/fs.js";

/**
 * Image garbage collection: the layout keeps base images (`base/`), imported images (`imported/`) and the
 * image of every version the store still has (building or ready); app images of deleted and failed
 * versions go, then dependency caches (`cache/`) no kept app image builds on, then every blob, unpacked
 * layer and shifted layer copy nothing kept needs, and buildah's dangling images. A layer an overlay mount
 * uses (a running instance, a build step) stays whatever the store says (see mounted-layers.ts). It runs
 * as the layout's one collector (LayoutLock), so never beside a build or import writing into the layout.
 *
 * When STRATA_IMAGES puts the images outside this STRATA_HOME, other homes (test daemons, a second
 * platform) may share them, with versions this store cannot see: then no image is untagged, and only
 * what no image reaches goes, once it has not changed for SHARED_MIN_AGE_MS.
 *
 * The same run collects the artifact store (artifacts/prune.ts), which is always this home's own: static
 * trees, their file blobs and compressed copies, and isolate bundles no building or ready version
 * references go, once unchanged for ARTIFACT_GRACE_MS.
 */

export interface ImagePruneResult {
  dryRun: boolean;
  /** The layout is shared with other STRATA_HOMEs: no image was removed, only unreachable data. */
  sharedLayout: boolean;
  /** Refs removed from the layout. */
  images: string[];
  blobs: Removed;
  unpackedLayers: Removed;
  shiftedLayers: Removed;
  /** Leftovers of crashed builds and unpackers. */
  debris: Removed;
  /** buildah's dangling images removed, and the bytes its storage shrank by (0 on a dry run). */
  buildah: { images: string[]; bytes: number };
  /** The artifact store: static-site and isolate artifacts of deleted and failed versions. */
  artifacts: ArtifactPruneResult;
  /** Unreferenced layers kept because a mounted overlay uses them. */
  inUseKept: number;
  bytesFreed: number;
  durationMs: number;
}

export interface ImageGcDeps {
  home: StrataHome;
  store: Store;
  layout: OciLayout;
  lock: LayoutLock;
  /** The artifact store (STRATA_HOME/artifacts); isolate bundles live beside it (isolateBundlesDir). */
  blobs: BlobStore;
  /**
   * Prunes the drivers' uid-shifted layer copies (sandbox/oci/shifted-layers.ts) to the layers in `keep`.
   * A port the daemon wires: the deploy path reaches no driver's insides.
   */
  pruneLayerCopies(keep: ReadonlySet<string>, opts: { dryRun: boolean; minAgeMs: number }): Promise<Removed>;
  /** Told when a background prune's result cannot be recorded as an event. */
  warn: (message: string) => void;
}

const SHARED_MIN_AGE_MS = 30 * 60_000;
/**
 * Unreferenced artifacts younger than this stay: a deploy stores them before recording its version (a
 * build's own start also protects what it writes: artifactRoots). Generous against the seconds that
 * storing takes, so a clock step or a slow disk does not matter.
 */
const ARTIFACT_GRACE_MS = 10 * 60_000;
const APP_PREFIX = "apps/";
const CACHE_PREFIX = "cache/";

export class ImageGc {
  private running: Promise<void> | undefined;
  private rerun: string | undefined;

  constructor(private readonly deps: ImageGcDeps) {}

  /**
   * `buildCache`: also remove buildah's dangling images, which include the step cache of Dockerfile builds
   * (`strata images prune` does; the GC after a delete does not, so the next Dockerfile build stays cached).
   */
  async prune(opts: { dryRun: boolean; buildCache: boolean }, onProgress: (line: string) => void = () => {}): Promise<ImagePruneResult> {
    const { home, layout, lock } = this.deps;
    return lock.collect(async () => {
      const started = Date.now();
      const sharedLayout = this.sharedLayout();
      if (sharedLayout) onProgress(`the image store ${home.images} is outside STRATA_HOME and may be shared: keeping every image, removing only unreachable data older than ${SHARED_MIN_AGE_MS / 60_000} min`);
      const minAgeMs = sharedLayout ? SHARED_MIN_AGE_MS : 0;
      const inUse = await mountedLayerDigests();
      const layoutResult = await pruneLayout(layout, {
        removeRefs: sharedLayout ? [] : await this.refsToRemove(),
        inUse,
        unpackedDir: imagePaths(home).unpacked,
        dryRun: opts.dryRun,
        minAgeMs,
        onProgress,
      });
      const keep = new Set([...layoutResult.keptLayers, ...inUse]);
      const shiftedLayers = await this.deps.pruneLayerCopies(keep, { dryRun: opts.dryRun, minAgeMs });
      if (shiftedLayers.count) onProgress(`${opts.dryRun ? "would remove" : "removed"} ${shiftedLayers.count} uid-shifted layer copies, ${shiftedLayers.bytes} bytes`);
      const buildah = opts.buildCache ? await this.pruneBuildah(opts.dryRun, onProgress) : { images: [], bytes: 0 };
      // Under the layout's collector lock too, so two prunes never sweep the artifact store at once.
      const artifacts = await pruneArtifacts(this.deps.blobs, {
        ...artifactRoots(this.deps.store.listVersions()),
        bundlesDir: isolateBundlesDir(home),
        graceMs: ARTIFACT_GRACE_MS,
        dryRun: opts.dryRun,
        onProgress,
      });
      const { refs, blobs, unpacked, debris, inUseKept } = layoutResult;
      return {
        dryRun: opts.dryRun,
        sharedLayout,
        images: refs,
        blobs,
        unpackedLayers: unpacked,
        shiftedLayers,
        debris,
        buildah,
        artifacts,
        inUseKept,
        bytesFreed:
          blobs.bytes + unpacked.bytes + shiftedLayers.bytes + debris.bytes + buildah.bytes +
          artifacts.blobs.bytes + artifacts.isolateBundles.bytes + artifacts.debris.bytes,
        durationMs: Date.now() - started,
      };
    }, onProgress);
  }

  /**
   * Runs a prune in the background after `trigger` (an app or version deleted), recording its result as an
   * event; a trigger arriving while one runs makes one more run after it. Never throws.
   */
  runInBackground(trigger: string): void {
    if (this.running) {
      this.rerun = trigger;
      return;
    }
    this.running = this.pruneAndRecord(trigger).finally(() => {
      this.running = undefined;
      const again = this.rerun;
      this.rerun = undefined;
      if (again !== undefined) this.runInBackground(again);
    });
  }

  private async pruneAndRecord(trigger: string): Promise<void> {
    try {
      let event: NewEvent;
      try {
        const r = await this.prune({ dryRun: false, buildCache: false });
        event = { type: "images.pruned", message: `image GC after ${trigger}: ${summarize(r)}`, data: { ...r } };
      } catch (err) {
        const e = asStrataError(err);
        event = { type: "images.prune-failed", message: `image GC after ${trigger} failed: ${e.message}`, data: { code: e.code } };
      }
      this.deps.store.addEvent(event);
    } catch (err) {
      this.deps.warn(`image GC after ${trigger}: recording its result failed: ${(err as Error).message}`);
    }
  }

  /** Resolves once no background prune runs (the daemon waits for it before closing the store). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private sharedLayout(): boolean {
    return this.deps.home.images !== join(this.deps.home.root, "images");
  }

  private async refsToRemove(): Promise<string[]> {
    const keepApps = new Set<string>();
    for (const v of this.deps.store.listVersions()) {
      if (v.status !== "building" && v.status !== "ready") continue;
      keepApps.add(appImageRef(v.app, v.version));
      if (v.artifact?.kind === "oci") keepApps.add(v.artifact.ref);
    }
    const remove: string[] = [];
    const caches: Array<{ ref: string; top: string | undefined }> = [];
    const keptAppLayers = new Set<string>();
    const namedCaches = new Set<string>();
    for (const image of await this.deps.layout.list()) {
      if (image.ref.startsWith(APP_PREFIX)) {
        if (!keepApps.has(image.ref)) {
          remove.push(image.ref);
          continue;
        }
        const manifest = await this.manifest(image.digest);
        for (const l of manifest.layers) keptAppLayers.add(l.digest);
        const config = await this.deps.layout.readJsonBlob<ImageConfig>(manifest.config.digest);
        for (const ref of (config.config.Labels?.[BUILD_CACHE_LABEL] ?? "").split(" ").filter(Boolean)) namedCaches.add(ref);
      } else if (image.ref.startsWith(CACHE_PREFIX)) {
        caches.push({ ref: image.ref, top: (await this.manifest(image.digest)).layers.at(-1)?.digest });
      }
    }
    // A dependency cache lives as long as an app image built on it: a rebuild of a kept version hits it.
    // So does a build-only cache (a Maven repository, compiled crates) a kept app image names.
    for (const c of caches) if (!namedCaches.has(c.ref) && (!c.top || !keptAppLayers.has(c.top))) remove.push(c.ref);
    return remove;
  }

  private manifest(digest: string): Promise<ImageManifest> {
    return this.deps.layout.readJsonBlob<ImageManifest>(digest);
  }

  private async pruneBuildah(dryRun: boolean, onProgress: (line: string) => void): Promise<{ images: string[]; bytes: number }> {
    const storage = buildahPaths(this.deps.home).root;
    if (!(await pathExists(storage))) return { images: [], bytes: 0 }; // no Dockerfile was ever built here
    const before = dryRun ? 0 : await diskUsage(storage);
    const images = await new Buildah(this.deps.home).pruneDangling(dryRun);
    const bytes = dryRun ? 0 : Math.max(0, before - (await diskUsage(storage)));
    if (images.length) onProgress(`${dryRun ? "would remove" : "removed"} ${images.length} dangling buildah image(s)${dryRun ? "" : `, ${bytes} bytes`}`);
    return { images, bytes };
  }
}

/**
 * What building and ready versions reference in the artifact store. The upload itself is not there (the
 * deployer deletes it once extracted). A version still building may have stored content it has not
 * recorded yet: everything changed since the oldest build began stays (`buildsSince`).
 */
export function artifactRoots(versions: readonly VersionRecord[]): { roots: ArtifactRoots; buildsSince?: number } {
  const roots = { trees: [] as string[], bundles: [] as string[] };
  let buildsSince: number | undefined;
  for (const v of versions) {
    if (v.status !== "building" && v.status !== "ready") continue;
    if (v.status === "building") buildsSince = Math.min(buildsSince ?? Infinity, Date.parse(v.createdAt));
    if (v.staticTree) roots.trees.push(v.staticTree);
    if (v.artifact?.kind === "static-tree") roots.trees.push(v.artifact.digest);
    if (v.artifact?.kind === "isolate-bundle") roots.bundles.push(v.artifact.digest.replace(/^sha256:/, ""));
  }
  return { roots, ...(buildsSince !== undefined && { buildsSince }) };
}

export function summarize(r: ImagePruneResult): string {
  const parts = [
    r.images.length && `${r.images.length} image(s)`,
    r.blobs.count && `${r.blobs.count} blob(s)`,
    r.unpackedLayers.count && `${r.unpackedLayers.count} unpacked layer(s)`,
    r.shiftedLayers.count && `${r.shiftedLayers.count} shifted layer copies`,
    r.debris.count && `${r.debris.count} leftover(s)`,
    r.buildah.images.length && `${r.buildah.images.length} buildah image(s)`,
    r.artifacts.blobs.count && `${r.artifacts.blobs.count} artifact blob(s)`,
    r.artifacts.isolateBundles.count && `${r.artifacts.isolateBundles.count} isolate bundle(s)`,
    r.artifacts.debris.count && `${r.artifacts.debris.count} artifact leftover(s)`,
  ].filter(Boolean);
  const what = parts.length ? `${r.dryRun ? "would remove" : "removed"} ${parts.join(", ")}, ${(r.bytesFreed / 1e6).toFixed(1)} MB` : "nothing to remove";
  return `${what}${r.inUseKept ? `; kept ${r.inUseKept} layer(s) in use` : ""} (${r.durationMs} ms)`;
}
