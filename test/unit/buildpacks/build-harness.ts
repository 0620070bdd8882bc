import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { AppYamlLike, ImageBuildContext } from "../../../src/build/image-builder.js";
import { imagePaths } from "../../../src/images/catalog.js";
import type { ResolvedImage } from "../../../src/images/layout.js";
import { unpackLayers } from "../../../src/images/unpack.js";
import { BuildStep } from "../../../src/build/buildpack/step.js";
import { stepWorkDir } from "../../../src/build/buildpack/work-dirs.js";
import { exec } from "../../../src/system/exec.js";
import { progressLog, sharedImageStore } from "../images/shared-store.js";

/** A copy of a fixture or example in a temp dir the test may change, removed after the test. */
export async function sourceCopy(t: TestContext, from: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "strata-src-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(from, dir, { recursive: true });
  return dir;
}

/** A ImageBuildContext on the shared image store, for a unique app name; its app images are untagged after the test. */
export function buildContext(t: TestContext, sourceDir: string, spec: AppYamlLike, version = "v1"): ImageBuildContext & { lines: string[] } {
  const { home, layout, catalog } = sharedImageStore();
  const app = `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  t.after(async () => {
    for (const img of await layout.list()) if (img.ref.startsWith(`apps/${app}:`)) await layout.untag(img.ref);
  });
  const { lines, log } = progressLog();
  return { app, version, sourceDir, spec, home, layout, catalog, log, lines };
}

/** Runs a command inside a built image (as root, no network) and returns its stdout. */
export async function runInImage(ctx: ImageBuildContext, image: ResolvedImage, argv: string[], env: string[] = []): Promise<string> {
  const lowerDirs = await unpackLayers(ctx.layout, image, imagePaths(ctx.home).unpacked);
  const id = `${ctx.app}-check-${Math.random().toString(36).slice(2, 8)}`;
  const step = new BuildStep({ id, lowerDirs, workDir: stepWorkDir(ctx.home, id), mounts: [], network: "none", env: [...(image.config.config.Env ?? []), ...env], log: ctx.log });
  try {
    await step.mount();
    return (await step.run({ argv, cwd: image.config.config.WorkingDir ?? "/" }, { quiet: true })).stdout;
  } finally {
    await step.discard();
  }
}

/** skopeo and umoci both read the image from the layout (the OCI image spec, not just Strata). */
export async function assertStandardImage(ctx: ImageBuildContext, ref: string): Promise<{ Digest: string; Layers: string[] }> {
  const inspect = JSON.parse((await exec(["skopeo", "inspect", `oci:${ctx.layout.dir}:${ref}`])).stdout) as { Digest: string; Layers: string[] };
  await exec(["umoci", "stat", "--image", `${ctx.layout.dir}:${ref}`]);
  return inspect;
}
