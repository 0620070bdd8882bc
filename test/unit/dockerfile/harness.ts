import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import type { TestContext } from "node:test";
import type { ImageBuildContext } from "../../../src/build/image-builder.js";
import { Buildah } from "../../../src/build/dockerfile/buildah.js";
import { StrataHome } from "../../../src/home.js";
import type { ResolvedImage } from "../../../src/images/layout.js";
import { exec } from "../../../src/system/exec.js";
import { imageToolsMissing, progressLog, sharedImageStore } from "../images/shared-store.js";

/**
 * Dockerfile builds in tests: base images come from the image store shared by all image tests (built once
 * from Debian packages, see shared-store.ts); buildah's storage lives in a temporary STRATA_HOME per test
 * file, emptied and removed after the file, so no build cache leaks between runs.
 */
export const BUILD_TOOLS = ["buildah", "runc", "slirp4netns", "ip", "skopeo", "umoci", "mmdebstrap", "tar", "setfattr", "getfattr"];

export const missing = await imageToolsMissing(BUILD_TOOLS);

/** One temporary home for this test file; `after` removes buildah's containers, images and storage. */
export async function fileHome(): Promise<StrataHome> {
  const home = new StrataHome(await mkdtemp(join(tmpdir(), "strata-df-home-")));
  after(() => removeBuildahStorage(home));
  return home;
}

async function removeBuildahStorage(home: StrataHome): Promise<void> {
  await new Buildah(home).destroyStorage();
  await rm(home.root, { recursive: true, force: true });
}

/** A ImageBuildContext on the shared layout and catalog with buildah storage in `home`; its app images are untagged after the test. */
export function dockerContext(t: TestContext, home: StrataHome, sourceDir: string, version = "v1"): ImageBuildContext & { lines: string[] } {
  const { layout, catalog } = sharedImageStore();
  const app = `dftest-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  t.after(async () => {
    for (const img of await layout.list()) if (img.ref.startsWith(`apps/${app}:`)) await layout.untag(img.ref);
  });
  const { lines, log } = progressLog();
  return { app, version, sourceDir, spec: {}, home, layout, catalog, log, lines };
}

/** A temp source dir holding `files` (path → content), or a copy of `from` with `files` on top; removed after the test. */
export async function sourceDir(t: TestContext, files: Record<string, string>, from?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "strata-df-src-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  if (from) await cp(from, dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return dir;
}

/** skopeo and umoci read the image from the layout as any OCI tool would; returns the image as Strata resolves it. */
export async function readableImage(ctx: ImageBuildContext, ref: string): Promise<ResolvedImage> {
  await exec(["skopeo", "inspect", `oci:${ctx.layout.dir}:${ref}`]);
  await exec(["umoci", "stat", "--image", `${ctx.layout.dir}:${ref}`]);
  return ctx.layout.resolve(ref);
}

/** The file names in one layer of an image (tar auto-detects compression). */
export async function layerFiles(ctx: ImageBuildContext, image: ResolvedImage, index: number): Promise<string[]> {
  const layer = image.manifest.layers.at(index);
  if (!layer) throw new Error(`image has no layer ${index}`);
  const { stdout } = await exec(["tar", "--list", "--file", ctx.layout.blobPath(layer.digest)]);
  return stdout.split("\n").filter(Boolean);
}
