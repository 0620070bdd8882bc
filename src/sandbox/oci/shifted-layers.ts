import { randomBytes } from "node:crypto";
import { chmod, lchown, lstat, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { StrataHome } from "../../home.js";
import { isAbandonedTmp, removeCounted, removeTree, unchangedFor, type Removed } from "../../system/disk.js";
import { exec } from "../../system/exec.js";
import { ignoreMissing } from "../../system/fs.js";
import type { IdMap } from "./bundle.js";

/**
 * Layers whose ownership is shifted into the instances' host id range, so that root in a container (host
 * uid `idMap.hostId`) owns what image root owns, and every other image uid u appears as u too.
 *
 * Why copies: runc 1.1 cannot idmap-mount overlay lower dirs and util-linux 2.38 cannot make idmapped
 * mounts, and the unpacked layers (images/unpack.ts) are shared with other drivers and the builder, so
 * they cannot be chowned in place. Each layer is copied and chowned once per (layer digest, host range)
 * and shared by every instance of every image using it; a copy is complete when visible (tmp + rename).
 * chown clears setuid/setgid bits and file capabilities: the mode bits are put back, file capabilities
 * are not (a web app has no use for them).
 */
export async function shiftedLayers(unpackedBottomFirst: readonly string[], idMap: IdMap, cacheDir: string): Promise<string[]> {
  await mkdir(cacheDir, { recursive: true });
  const out: string[] = [];
  for (const src of unpackedBottomFirst) {
    const dest = join(cacheDir, `${basename(src)}-${idMap.hostId}-${idMap.size}`);
    if (!(await isDir(dest))) await shiftCopy(src, dest, idMap);
    out.push(dest);
  }
  return out;
}

async function shiftCopy(src: string, dest: string, idMap: IdMap): Promise<void> {
  const tmp = `${dest}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    // cp -a keeps modes, times, hard links, xattrs (overlay whiteouts and opaque markers included).
    await exec(["cp", "-a", "--reflink=auto", src, tmp]);
    await shiftTree(tmp, idMap);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    // Another preparer renamed the same layer into place first: its copy is as good as ours.
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === "ENOTEMPTY" || code === "EEXIST") && (await isDir(dest))) return;
    throw err;
  }
}

async function shiftTree(root: string, idMap: IdMap): Promise<void> {
  const seen = new Set<number>(); // hard links: shift each inode once
  const stack = [root];
  while (stack.length) {
    const path = stack.pop()!;
    const st = await lstat(path);
    if (!seen.has(st.ino)) {
      seen.add(st.ino);
      const uid = st.uid < idMap.size ? st.uid + idMap.hostId : st.uid;
      const gid = st.gid < idMap.size ? st.gid + idMap.hostId : st.gid;
      await lchown(path, uid, gid);
      if (!st.isSymbolicLink() && !st.isDirectory() && st.mode & 0o6000) await chmod(path, st.mode & 0o7777);
    }
    if (st.isDirectory()) for (const name of await readdir(path)) stack.push(join(path, name));
  }
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return false;
      throw err;
    },
  );
}

/** Where a driver built on OciDriver keeps its shifted layers (the driver's `join(home.runtime(name), "layers")`). */
export function shiftedLayersDir(home: StrataHome, driver: string): string {
  return join(home.runtime(driver), "layers");
}

/**
 * Image GC's part here: removes the shifted copies (`<hex>-<uid>-<size>`) of layers not in `keep` (the
 * layers of the images still stored, plus those a mount uses), and unfinished copies of dead processes.
 * Returns what it removed (or would, with `dryRun`).
 */
export async function pruneShiftedLayers(cacheDir: string, keep: ReadonlySet<string>, opts: { dryRun: boolean; minAgeMs: number }): Promise<Removed> {
  const removed: Removed = { count: 0, bytes: 0 };
  for (const name of await readdir(cacheDir).catch(ignoreMissing([] as string[]))) {
    const dir = join(cacheDir, name);
    const abandoned = isAbandonedTmp(name);
    const hex = /^([a-f0-9]{64})-\d+-\d+$/.exec(name)?.[1];
    if (!abandoned && (hex === undefined || keep.has(hex) || !(await unchangedFor(dir, opts.minAgeMs)))) continue;
    await removeCounted(dir, removed, opts.dryRun, () => (abandoned ? rm(dir, { recursive: true, force: true }) : removeTree(dir)));
  }
  return removed;
}

/** pruneShiftedLayers over the caches of the drivers named (a driver that makes no copies has none). */
export async function pruneDriversShiftedLayers(home: StrataHome, drivers: readonly string[], keep: ReadonlySet<string>, opts: { dryRun: boolean; minAgeMs: number }): Promise<Removed> {
  const removed: Removed = { count: 0, bytes: 0 };
  for (const driver of drivers) {
    const r = await pruneShiftedLayers(shiftedLayersDir(home, driver), keep, opts);
    removed.count += r.count;
    removed.bytes += r.bytes;
  }
  return removed;
}
