import { readFile } from "node:fs/promises";
import { dirname, relative } from "node:path";
import { StrataError } from "../../errors.js";
import { exec } from "../../system/exec.js";

/** The kernel takes mount options up to one page. */
const MAX_MOUNT_OPTIONS = 4095;

/**
 * Mounts an instance's root: the image layers read-only as overlay lower dirs (top first), and an upper
 * and work dir of the instance's own. Lower dirs are given relative to their common parent (mount runs
 * there) so an image with many layers still fits in the one-page option limit.
 */
export async function mountOverlay(lowerTopFirst: readonly string[], upper: string, work: string, target: string): Promise<void> {
  const base = dirname(lowerTopFirst[0]!);
  const lowers = lowerTopFirst.map((l) => (dirname(l) === base ? relative(base, l) : l));
  const options = `lowerdir=${lowers.join(":")},upperdir=${upper},workdir=${work}`;
  if (options.length > MAX_MOUNT_OPTIONS) {
    throw new StrataError("INSTANCE_FAILED", `the image has too many layers (${lowers.length}) for one overlay mount`);
  }
  await exec(["mount", "-t", "overlay", "overlay", "-o", options, target], { cwd: base });
}

export async function isMountpoint(path: string): Promise<boolean> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  // Field 5 is the mount point, with spaces and the like escaped as octal.
  return info.split("\n").some((line) => line.split(" ")[4] === path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`));
}

/**
 * Unmounts if mounted; a lazy unmount when something still holds it (it goes once released). umount's 32
 * means busy or already unmounted, so what counts is whether the mount is still there afterwards.
 */
export async function unmount(path: string): Promise<void> {
  if (!(await isMountpoint(path))) return;
  if ((await exec(["umount", path], { okCodes: [0, 32] })).code === 0) return;
  const lazy = await exec(["umount", "--lazy", path], { okCodes: [0, 32] });
  if (lazy.code !== 0 && (await isMountpoint(path))) {
    throw new StrataError("INSTANCE_FAILED", `could not unmount ${path}: ${lazy.stderr.trim()}`);
  }
}

/** Every mount point under `dir` (for sweeping leftovers). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  return info
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(prefix));
}
