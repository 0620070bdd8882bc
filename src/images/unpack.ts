import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { exec } from "../system/exec.js";
import type { Descriptor, OciLayout, ResolvedImage } from "./layout.js";
import { ociToOverlayWhiteouts } from "./whiteouts.js";

/**
 * Unpacks an image's layers into one directory per layer, bottom first, ready to be overlayfs lower dirs
 * (`lowerdir=` wants them top first: reverse the result). Each layer is extracted once per digest under
 * `cacheDir/<hex digest>` and shared by every image, build and instance that uses it. Extraction is GNU
 * tar as root, keeping numeric ownership, modes and xattrs; OCI whiteouts become overlayfs whiteouts.
 * Directories are complete when visible: a layer is extracted into a temporary dir and renamed into place,
 * so concurrent unpackers (even in other processes) never see a half-extracted layer.
 */
export async function unpackLayers(layout: OciLayout, image: ResolvedImage, cacheDir: string): Promise<string[]> {
  return unpackLayerList(layout, image.manifest.layers, cacheDir);
}

/** unpackLayers for a list of layer descriptors (bottom first), e.g. layers not yet in any manifest. */
export async function unpackLayerList(layout: OciLayout, layers: readonly Descriptor[], cacheDir: string): Promise<string[]> {
  await mkdir(cacheDir, { recursive: true });
  const dirs: string[] = [];
  for (const layer of layers) {
    const dir = join(cacheDir, layer.digest.replace(/^sha256:/, ""));
    if (!(await isDir(dir))) await extractLayer(layout.blobPath(layer.digest), dir);
    dirs.push(dir);
  }
  return dirs;
}

async function extractLayer(blob: string, dir: string): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await mkdir(tmp, { mode: 0o755 });
  try {
    // tar detects gzip/zstd compression of a file argument by itself.
    await exec([
      "tar",
      "--extract",
      "--file",
      blob,
      "--directory",
      tmp,
      "--numeric-owner",
      "--same-owner",
      "--preserve-permissions",
      "--xattrs",
      "--xattrs-include=*",
    ]);
    await ociToOverlayWhiteouts(tmp);
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    // Another unpacker renamed the same layer into place first: its copy is as good as ours.
    if (isRenameCollision(err) && (await isDir(dir))) return;
    throw err;
  }
}

function isRenameCollision(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOTEMPTY" || code === "EEXIST";
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
