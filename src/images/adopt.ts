import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../errors.js";
import type { ImageRef } from "./image-ref.js";
import { MEDIA_TYPES, type ImageConfig, type ImageManifest, type OciLayout } from "./layout.js";

/**
 * Tools that write OCI layouts (buildah push, skopeo copy) rewrite index.json in place, which would race
 * with Strata's own writers. They write into a staging layout inside the layout's tmp/ (same filesystem)
 * instead; `adoptStagedImage` then moves the blobs over and tags the image through OciLayout.
 */

/** A fresh staging layout directory; remove it with `rm -r` when done. */
export async function stagingLayout(layout: OciLayout): Promise<string> {
  await layout.init();
  const dir = join(layout.dir, "tmp", `staging-${process.pid}-${randomBytes(6).toString("hex")}`);
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  return dir;
}

/**
 * Hard-links blobs the layout already has into a staging layout, so that a tool writing there skips them
 * (buildah and skopeo reuse a blob that exists at its digest's path) instead of copying, say, a 200 MB base layer.
 */
export async function linkKnownBlobs(layout: OciLayout, stagingDir: string, digests: readonly string[]): Promise<void> {
  for (const digest of digests) {
    if (!(await layout.hasBlob(digest))) continue;
    await link(layout.blobPath(digest), join(stagingDir, "blobs", "sha256", digest.slice("sha256:".length))).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err; // linked already: the same content
    });
  }
}

/**
 * Moves the single image of a staging layout into `layout` under `ref`. `patchConfig` may add to the
 * image config (a new config blob and manifest are then written).
 */
export async function adoptStagedImage(
  layout: OciLayout,
  stagingDir: string,
  ref: string,
  patchConfig: (config: ImageConfig) => ImageConfig = (c) => c,
): Promise<ImageRef> {
  const index = JSON.parse(await readFile(join(stagingDir, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
  if (index.manifests.length !== 1) {
    throw new StrataError("INVALID_ARGUMENT", `expected one image in the staged layout, found ${index.manifests.length}`);
  }
  const stagedBlob = (digest: string) => join(stagingDir, "blobs", "sha256", digest.slice("sha256:".length));
  const manifest = JSON.parse(await readFile(stagedBlob(index.manifests[0]!.digest), "utf8")) as ImageManifest;
  if (manifest.mediaType && manifest.mediaType !== MEDIA_TYPES.manifest) {
    throw new StrataError("INVALID_ARGUMENT", `staged image has media type ${manifest.mediaType}, not an OCI image manifest`);
  }
  for (const layer of manifest.layers) {
    if (await layout.hasBlob(layer.digest)) continue;
    const adopted = await layout.adoptBlobFile(stagedBlob(layer.digest), layer.mediaType);
    if (adopted.digest !== layer.digest) {
      await rm(layout.blobPath(adopted.digest), { force: true });
      throw new StrataError("INTERNAL", `staged blob ${layer.digest} has digest ${adopted.digest}`);
    }
  }
  const config = patchConfig(JSON.parse(await readFile(stagedBlob(manifest.config.digest), "utf8")) as ImageConfig);
  const configDesc = await layout.putBlob(JSON.stringify(config), MEDIA_TYPES.config);
  const manifestDesc = await layout.putBlob(JSON.stringify({ ...manifest, mediaType: MEDIA_TYPES.manifest, config: configDesc }), MEDIA_TYPES.manifest);
  await layout.tag(ref, manifestDesc);
  return { kind: "oci", digest: manifestDesc.digest, path: layout.dir, ref };
}
