import { mkdir, rm } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { ImageRef, ImageRuntimeConfig, Layer } from "../../images/index.js";
import { appImageRef, type ImageBuildContext } from "../image-builder.js";
import { copySource } from "./source.js";
import { stepWorkDir } from "./work-dirs.js";

/**
 * The last steps every language buildpack shares: the app's source as a layer under /app, and the image
 * written under `apps/<app>:<version>`.
 */

/** Runtime user of app images: nobody:nogroup, present in every base image. /app is root-owned and read-only to it, as on App Engine. */
export const APP_USER = "65534:65534";

export async function sourceLayer(ctx: ImageBuildContext, exclude: readonly string[]): Promise<Layer> {
  const staging = stepWorkDir(ctx.home, `${ctx.app}-${ctx.version}-src-${randomBytes(3).toString("hex")}`);
  try {
    await mkdir(staging, { recursive: true, mode: 0o755 });
    await copySource(ctx.sourceDir, join(staging, "app"), exclude);
    return await ctx.layout.addLayerFromDir(staging);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** A layer and what made it, for the image's history (umoci and skopeo show it). */
export interface DescribedLayer {
  layer: Layer;
  createdBy: string;
}

export async function writeAppImage(
  ctx: ImageBuildContext,
  described: readonly DescribedLayer[],
  runtime: ImageRuntimeConfig,
): Promise<{ image: ImageRef; sizeBytes: number }> {
  const layers = described.map((d) => d.layer);
  const created = new Date().toISOString();
  const history = described.map((d) => ({ created, created_by: d.createdBy }));
  const image = await ctx.layout.writeImage(layers, runtime, appImageRef(ctx.app, ctx.version), history);
  return { image, sizeBytes: layers.reduce((n, l) => n + l.descriptor.size, 0) };
}

/**
 * Writes a buildpack's app image with the config every buildpack shares (/app, the unprivileged app
 * user, port 8080, Strata's labels), logs it, and returns it.
 */
export async function writeBuildpackImage(
  ctx: ImageBuildContext,
  described: readonly DescribedLayer[],
  runtime: string,
  env: string[],
  entrypoint: string[],
  /** Labels beyond Strata's own (the runs label, the build caches used). */
  labels: Readonly<Record<string, string>> = {},
): Promise<{ image: ImageRef; sizeBytes: number }> {
  const out = await writeAppImage(ctx, described, {
    Env: env,
    Entrypoint: entrypoint,
    WorkingDir: "/app",
    User: APP_USER,
    ExposedPorts: { "8080/tcp": {} },
    Labels: { ...labels, "dev.strata.runtime": runtime, "dev.strata.app": ctx.app, "dev.strata.version": ctx.version },
  });
  ctx.log(`image ${out.image.ref} ${out.image.digest} (${(out.sizeBytes / 1e6).toFixed(1)} MB)`);
  return out;
}

/** KEY=VALUE list with `overrides` replacing same-named keys of `base`. */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const keys = new Set(overrides.map((e) => e.split("=")[0]));
  return [...base.filter((e) => !keys.has(e.split("=")[0])), ...overrides];
}
