import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { exec } from "../../system/exec.js";
import { mountOverlay, unmount } from "../oci/rootfs.js";
import { isNotFound, type LxdClient } from "./client.js";

/** The LXD image alias of an OCI image: its manifest digest, so an image is imported once. */
export function aliasOf(digest: string): string {
  return `strata-${digest.replace(/^sha256:/, "").slice(0, 40)}`;
}

/**
 * Makes the app's OCI image an LXD image, once per digest: its unpacked layers, flattened by a read-only
 * overlay mount, are streamed to POST /1.0/images as a unified tarball (metadata.yaml + rootfs/), and the
 * image gets the digest's alias. Returns the alias.
 */
export async function ensureImage(client: LxdClient, digest: string, layersTopFirst: readonly string[], workDir: string, description: string): Promise<string> {
  const alias = aliasOf(digest);
  try {
    await client.get(`/1.0/images/aliases/${alias}`);
    return alias;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await mkdir(workDir, { recursive: true });
  const stage = await mkdtemp(join(workDir, "image-"));
  const rootfs = join(stage, "rootfs");
  try {
    await mkdir(rootfs);
    const metadata = `architecture: x86_64\ncreation_date: ${Math.floor(Date.now() / 1000)}\nproperties:\n  description: ${JSON.stringify(description)}\n  os: strata\n`;
    await writeFile(join(stage, "metadata.yaml"), metadata);
    if (layersTopFirst.length === 1) await exec(["mount", "--bind", "-o", "ro", layersTopFirst[0]!, rootfs]);
    else await mountReadOnly(layersTopFirst, rootfs);
    try {
      const op = await client.run("POST", "/1.0/images", tarStream(stage), 600);
      const fingerprint = op.metadata?.fingerprint;
      if (typeof fingerprint !== "string") throw new StrataError("DRIVER_FAILED", "LXD imported the image but named no fingerprint");
      await client.sync("POST", "/1.0/images/aliases", { name: alias, target: fingerprint, description });
    } finally {
      await unmount(rootfs);
    }
    return alias;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Layers as one tree, for tar to read: an overlay with a scratch upper dir (removed with the stage). */
async function mountReadOnly(layersTopFirst: readonly string[], target: string): Promise<void> {
  const work = `${target}.work`;
  const upper = `${target}.upper`;
  await mkdir(work);
  await mkdir(upper);
  await mountOverlay(layersTopFirst, upper, work, target);
}

/** `tar` of metadata.yaml and rootfs/, owners and modes kept as numbers, streamed as it is written. */
function tarStream(stage: string): NodeJS.ReadableStream & import("node:stream").Readable {
  const child = spawn("tar", ["--numeric-owner", "--xattrs", "--acls", "-C", stage, "-cf", "-", "metadata.yaml", "rootfs"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  child.on("close", (code) => {
    if (code !== 0) child.stdout.destroy(new StrataError("COMMAND_FAILED", `tar of the LXD image failed (${code}): ${stderr.trim()}`));
  });
  return child.stdout;
}
