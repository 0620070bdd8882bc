import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../errors.js";
import type { ImageRef } from "./image-ref.js";
import { exec } from "../system/exec.js";
import { adoptStagedImage, stagingLayout } from "./adopt.js";
import { assertRefName, type OciLayout } from "./layout.js";

/**
 * Images that Strata did not build from Debian packages: imported from a file (`strata images import`) or,
 * where a registry is configured, pulled with skopeo. They live in the layout as `imported/<name:tag>`,
 * and a Dockerfile's `FROM <name:tag>` resolves to them.
 */
export const IMPORTED_PREFIX = "imported/";

export type ImportFormat = "oci-archive" | "docker-archive" | "rootfs-tar";

export interface ImportedImage {
  /** The name `FROM` uses, canonical (`python:3.11`, `registry.example.com/team/app:1.0`). */
  name: string;
  image: ImageRef;
  format: ImportFormat | "registry";
}

/**
 * Docker's reading of an image name, minus its default registry: `docker.io/library/ruby:3.1` and
 * `ruby:3.1` are one name, `ruby` means `ruby:latest`.
 */
export function canonicalImageName(name: string): string {
  if (name.includes("@")) {
    throw new StrataError("INVALID_ARGUMENT", `"${name}": image references by digest are not supported; use NAME:TAG`);
  }
  let n = name.trim().replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, "");
  n = n.replace(/^library\//, "");
  const lastSlash = n.lastIndexOf("/");
  if (!n.slice(lastSlash + 1).includes(":")) n = `${n}:latest`;
  assertRefName(`${IMPORTED_PREFIX}${n}`);
  return n;
}

export function importedRef(name: string): string {
  return `${IMPORTED_PREFIX}${canonicalImageName(name)}`;
}

/** Names of the imported images in the layout (without the prefix). */
export async function importedNames(layout: OciLayout): Promise<string[]> {
  await layout.init();
  return (await layout.list()).filter((i) => i.ref.startsWith(IMPORTED_PREFIX)).map((i) => i.ref.slice(IMPORTED_PREFIX.length));
}

/**
 * Imports an image file under `name` (NAME:TAG): an OCI archive (`skopeo copy oci-archive:`), a
 * `docker save` archive, or a root filesystem tarball, which becomes a one-layer image with a default PATH.
 * Compressed tarballs (gzip, xz, zstd) are read as they are. Replaces an earlier import of the same name.
 */
export async function importImage(layout: OciLayout, file: string, name: string, onProgress: (line: string) => void = () => {}): Promise<ImportedImage> {
  const canonical = canonicalImageName(name);
  const format = await archiveFormat(file);
  onProgress(`importing ${file} (${format}) as ${canonical}`);
  const image =
    format === "rootfs-tar"
      ? await importRootfs(layout, file, canonical)
      : await copyIntoLayout(layout, [
          "skopeo",
          "copy",
          // A local file carries no signature to check: the policy is about registries.
          "--insecure-policy",
          "--quiet",
          "--dest-oci-accept-uncompressed-layers",
          `${format}:${file}`,
        ], canonical);
  onProgress(`imported ${canonical} ${image.digest}`);
  return { name: canonical, image, format };
}

/** Pulls `reference` from its registry (skopeo, the host's registries and policy configuration) into the layout. */
export async function pullImage(layout: OciLayout, reference: string, onProgress: (line: string) => void = () => {}): Promise<ImportedImage> {
  const canonical = canonicalImageName(reference);
  onProgress(`pulling ${reference} with skopeo`);
  const image = await copyIntoLayout(layout, ["skopeo", "copy", "--quiet", "--dest-oci-accept-uncompressed-layers", `docker://${reference}`], canonical);
  onProgress(`pulled ${canonical} ${image.digest}`);
  return { name: canonical, image, format: "registry" };
}

async function copyIntoLayout(layout: OciLayout, copyArgv: readonly string[], canonical: string): Promise<ImageRef> {
  const staging = await stagingLayout(layout);
  try {
    await exec([...copyArgv, `oci:${staging}:import`], { timeoutMs: 30 * 60_000 });
    return await adoptStagedImage(layout, staging, `${IMPORTED_PREFIX}${canonical}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function importRootfs(layout: OciLayout, file: string, canonical: string): Promise<ImageRef> {
  const dir = join(await stagingLayout(layout), "rootfs");
  try {
    await mkdir(dir);
    await exec(["tar", "--extract", "--file", file, "--directory", dir, "--numeric-owner", "--same-permissions", "--xattrs"], { timeoutMs: 30 * 60_000 });
    const layer = await layout.addLayerFromDir(dir);
    return await layout.writeImage(
      [layer],
      { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Labels: { "dev.strata.imported-from": "rootfs-tar" } },
      `${IMPORTED_PREFIX}${canonical}`,
      [{ created: new Date().toISOString(), created_by: `strata images import (root filesystem tarball)` }],
    );
  } finally {
    await rm(join(dir, ".."), { recursive: true, force: true });
  }
}

/** Tells the three formats apart by their entries: an OCI layout has `oci-layout`, `docker save` has `manifest.json`. */
async function archiveFormat(file: string): Promise<ImportFormat> {
  let oci = false;
  let docker = false;
  let pending = "";
  const scan = (line: string) => {
    const entry = line.replace(/^\.\//, "");
    if (entry === "oci-layout") oci = true;
    else if (entry === "manifest.json") docker = true;
  };
  try {
    await exec(["tar", "--list", "--file", file], {
      maxOutputBytes: 64 * 1024, // the listing is scanned as it streams; only the tail is kept for errors
      onOutput: (chunk, stream) => {
        if (stream !== "stdout") return;
        const lines = (pending + chunk).split("\n");
        pending = lines.pop() ?? "";
        lines.forEach(scan);
      },
    });
  } catch (err) {
    throw new StrataError("INVALID_ARCHIVE", `${file} is not a tar archive (an OCI archive, a docker save archive, or a root filesystem tarball)`, { file }, { cause: err });
  }
  scan(pending);
  return oci ? "oci-archive" : docker ? "docker-archive" : "rootfs-tar";
}
