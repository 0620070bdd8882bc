import { mkdir, mkdtemp, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import { imagePaths, OciLayout, type ResolvedImage, unpackLayers } from "../../images/index.js";
import { exec } from "../../system/exec.js";
import { pathExists } from "../../system/fs.js";
import { withFileLock } from "../../system/file-lock.js";
import { unmount } from "../oci/rootfs.js";

export interface RootDisk {
  /** A read-only ext4 image of the image's file system, shared by every instance of every version using it. */
  readonly path: string;
  readonly image: ResolvedImage;
  /** The unpacked layers, top first (for the image config's user lookup). */
  readonly layersTopFirst: readonly string[];
}

/** The directory root disks are cached in, one per image manifest digest. */
export function rootDiskDir(home: StrataHome): string {
  return join(home.root, "cache", "guest-disks");
}

/**
 * An OCI image as an ext4 disk for a guest, made without mounting the disk: the unpacked layers (the
 * same cache the OCI driver uses) are merged by a read-only overlay mount (which also applies whiteouts)
 * and written into a new file system by `mkfs.ext4 -d`. Cached per manifest digest; the size is the
 * content plus a third and 32 MiB for metadata.
 */
export async function rootDisk(home: StrataHome, layoutPath: string, ref: string, onProgress?: (line: string) => void): Promise<RootDisk> {
  const layout = new OciLayout(layoutPath);
  const image = await layout.resolve(ref);
  const unpacked = await unpackLayers(layout, image, imagePaths(home).unpacked);
  if (!unpacked.length) throw new StrataError("INVALID_ARGUMENT", `image ${ref} has no layers`);
  const layersTopFirst = [...unpacked].reverse();
  const dir = rootDiskDir(home);
  const path = join(dir, `${image.manifestDigest.replace(/^sha256:/, "")}.ext4`);
  await mkdir(dir, { recursive: true });
  if (await pathExists(path)) return { path, image, layersTopFirst };
  return withFileLock(`${path}.lock`, async () => {
    if (await pathExists(path)) return { path, image, layersTopFirst };
    onProgress?.(`making the guest root disk for ${ref} (${image.manifestDigest.slice(0, 19)})`);
    const work = await mkdtemp(join(dir, "make-"));
    const merged = join(work, "merged");
    const tmp = `${path}.tmp-${process.pid}`;
    try {
      await mkdir(merged);
      if (layersTopFirst.length === 1) await exec(["mount", "--bind", "-o", "ro", layersTopFirst[0]!, merged]);
      else await exec(["mount", "-t", "overlay", "overlay", "-o", `ro,lowerdir=${layersTopFirst.join(":")}`, merged]);
      const bytes = Number((await exec(["du", "-sb", merged])).stdout.split(/\s/)[0]);
      const sizeMb = Math.ceil((bytes * 4) / 3 / 2 ** 20) + 32;
      await exec(["mkfs.ext4", "-q", "-F", "-L", "strata-root", "-d", merged, "-O", "^has_journal", "-E", "root_owner=0:0", tmp, `${sizeMb}M`], { timeoutMs: 600_000 });
      await rename(tmp, path);
    } finally {
      await unmount(merged);
      await rm(work, { recursive: true, force: true });
      await rm(tmp, { force: true });
    }
    onProgress?.(`root disk ready: ${(await stat(path)).size >> 20} MiB`);
    return { path, image, layersTopFirst };
  });
}

