import { randomBytes } from "node:crypto";
import { lstat, rename, rm } from "node:fs/promises";
import { exec } from "./exec.js";
import { processExists } from "./process.js";

/** Bytes a file or tree takes on disk (`du`: hard links counted once, sparse files as stored). */
export async function diskUsage(path: string): Promise<number> {
  return totalDiskUsage([path]);
}

/** How many paths one `du` is given: far below the kernel's argument-size limit for store paths. */
const DU_BATCH = 256;

/**
 * Bytes many files or trees take on disk together, measured by one `du` per batch rather than one per
 * path (a collector may measure thousands of small blobs).
 */
export async function totalDiskUsage(paths: readonly string[]): Promise<number> {
  let total = 0;
  for (let i = 0; i < paths.length; i += DU_BATCH) {
    const { stdout } = await exec(["du", "--summarize", "--total", "--block-size=1", "--", ...paths.slice(i, i + DU_BATCH)]);
    total += Number.parseInt(stdout.trimEnd().split("\n").at(-1) ?? "", 10) || 0;
  }
  return total;
}

/** What a clean-up removed (or would, on a dry run): how many things, and the bytes they took. */
export interface Removed {
  count: number;
  bytes: number;
}

/** Counts `path` into `into`, removes it with `remove` unless `dryRun`, and returns its size. */
export async function removeCounted(path: string, into: Removed, dryRun: boolean, remove: () => Promise<void>): Promise<number> {
  const bytes = await diskUsage(path);
  into.count++;
  into.bytes += bytes;
  if (!dryRun) await remove();
  return bytes;
}

/**
 * Removes a directory tree so that no one ever sees it half removed: it is first renamed to a
 * `<dir>.tmp-<pid>-gc…` name (the name unpackers and copiers give their unfinished work, so a clean-up
 * interrupted midway is finished by the next one), then deleted.
 */
export async function removeTree(dir: string): Promise<void> {
  const doomed = `${dir}.tmp-${process.pid}-gc${randomBytes(4).toString("hex")}`;
  await rename(dir, doomed);
  await rm(doomed, { recursive: true, force: true });
}

/** For `<name>.tmp-<pid>-…` work in progress: whether the process making it is gone (so it is debris). */
export function isAbandonedTmp(name: string): boolean {
  const pid = /\.tmp-(\d+)-/.exec(name)?.[1];
  return pid !== undefined && !processExists(Number(pid));
}

/** Whether `path` last changed (content or inode: a rename or chown counts) more than `ms` ago. */
export async function unchangedFor(path: string, ms: number): Promise<boolean> {
  if (ms <= 0) return true;
  const st = await lstat(path);
  return Date.now() - Math.max(st.mtimeMs, st.ctimeMs) > ms;
}
