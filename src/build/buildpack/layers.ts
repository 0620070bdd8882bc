import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { imagePaths, type Layer, type OciLayout, type ResolvedImage, unpackLayerList } from "../../images/index.js";
import type { ImageBuildContext } from "../image-builder.js";
import { BuildStep, type StepMount, type StepNetwork, type StepUser } from "./step.js";
import { stepWorkDir } from "./work-dirs.js";

/**
 * Shared plumbing of the language buildpacks: an image's layers as `Layer`s, a dependency layer cache kept
 * as refs in the OCI layout (`cache/<kind>:<key>` -> base layers + the dependency layer, so the cache is
 * content-addressed and shares blobs with everything else), and "run a step over these layers, get its
 * layer".
 */

export function layersOf(image: ResolvedImage): Layer[] {
  return image.manifest.layers.map((descriptor, i) => ({ descriptor, diffId: image.config.rootfs.diff_ids[i]! }));
}

export function dependencyCacheRef(kind: string, key: string): string {
  return `cache/${kind}:${key.slice(0, 40)}`;
}

/** The cached dependency layer (the top layer of the cache image), or null on a miss. */
export async function cachedLayer(layout: OciLayout, cacheRef: string): Promise<Layer | null> {
  const image = await layout.find(cacheRef);
  if (!image) return null;
  return layersOf(image).at(-1) ?? null;
}

export async function storeCachedLayer(layout: OciLayout, cacheRef: string, below: readonly Layer[], layer: Layer): Promise<void> {
  const created = new Date().toISOString();
  const history = [...below, layer].map((_, i, all) => ({ created, created_by: i === all.length - 1 ? `strata dependency cache ${cacheRef}` : "base layer" }));
  await layout.writeImage([...below, layer], {}, cacheRef, history);
}

export interface StepLayerOptions {
  /** Short label for names and logs: "deps", "build". */
  purpose: string;
  /** The layers the step runs on, bottom first. */
  below: readonly Layer[];
  mounts: readonly StepMount[];
  network: StepNetwork;
  /** Runs the step's commands unprivileged (see BuildStep); root by default. */
  user?: StepUser;
  env: readonly string[];
}

/**
 * Mounts an overlay over `below`, lets `work` run commands in it, and stores what changed as a new layer.
 * Mounts, containers and work dirs are removed whatever happens.
 */
export async function runStepLayer(
  ctx: ImageBuildContext,
  opts: StepLayerOptions,
  work: (step: BuildStep) => Promise<void>,
): Promise<Layer> {
  const paths = imagePaths(ctx.home);
  const lowerDirs = await unpackLayerList(ctx.layout, opts.below.map((l) => l.descriptor), paths.unpacked);
  const id = `${ctx.app}-${ctx.version}-${opts.purpose}-${randomBytes(3).toString("hex")}`.replace(/[^A-Za-z0-9_.-]/g, "-");
  const step = new BuildStep({
    id,
    lowerDirs,
    workDir: stepWorkDir(ctx.home, id),
    mounts: opts.mounts,
    network: opts.network,
    ...(opts.user && { user: opts.user }),
    env: opts.env,
    log: ctx.log,
  });
  try {
    await step.mount();
    await work(step);
    const upper = await step.finish();
    return await ctx.layout.addLayerFromDir(upper);
  } finally {
    await step.discard();
  }
}

/** Like runStepLayer for a step whose changes are thrown away (what it makes leaves through a mount). */
export async function runStep(ctx: ImageBuildContext, opts: StepLayerOptions, work: (step: BuildStep) => Promise<void>): Promise<void> {
  const lowerDirs = await unpackLayerList(ctx.layout, opts.below.map((l) => l.descriptor), imagePaths(ctx.home).unpacked);
  const id = `${ctx.app}-${ctx.version}-${opts.purpose}-${randomBytes(3).toString("hex")}`.replace(/[^A-Za-z0-9_.-]/g, "-");
  const step = new BuildStep({ id, lowerDirs, workDir: stepWorkDir(ctx.home, id), mounts: opts.mounts, network: opts.network, ...(opts.user && { user: opts.user }), env: opts.env, log: ctx.log });
  try {
    await step.mount();
    await work(step);
  } finally {
    await step.discard();
  }
}

/** A digest of a directory's files (relative paths and contents); "" when it does not exist. */
export async function hashTree(dir: string): Promise<string> {
  const hash = createHash("sha256");
  let any = false;
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // an absent folder hashes as empty
      throw err;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        any = true;
        hash.update(relative(dir, p)).update("\0").update(await readFile(p)).update("\0");
      }
    }
  };
  await walk(dir);
  return any ? hash.digest("hex") : "";
}

export function sha256(...parts: string[]): string {
  const hash = createHash("sha256");
  for (const p of parts) hash.update(p).update("\0");
  return hash.digest("hex");
}
