import { readFile } from "node:fs/promises";
import { ignoreMissing } from "../../system/fs.js";

/**
 * Guest RAM from the host's hugetlbfs pool (QEMU's `-mem-path`), when the host has one with room for it.
 * Why: pages of the pool belong to the host kernel for good, while anonymous memory a VMM takes is fresh
 * memory. On a host that is itself a VM returning its free memory to its hypervisor (free page reporting,
 * as a Firecracker guest with a balloon does), fresh memory is faulted in again by that hypervisor:
 * measured here, touching 160 MiB took 27-39 ms right after other memory was freed and 475-656 ms after
 * 4 s idle, and a restore loading its ~70 MiB snapshot took 300-550 ms longer after an idle pause. A scale
 * from zero comes after idle by definition. The pool is what scripts/setup-host.sh reserves.
 */
export interface HugetlbPool {
  /** Where a hugetlbfs of the default huge page size is mounted. */
  readonly mount: string;
  readonly pageBytes: number;
  readonly freeBytes: number;
}

/** The pool, or undefined when no hugetlbfs of the default page size is mounted (or none is reserved). */
export async function hugetlbPool(): Promise<HugetlbPool | undefined> {
  const meminfo = parseMeminfoHugePages(await readFile("/proc/meminfo", "utf8"));
  if (!meminfo || meminfo.total === 0) return undefined;
  const mount = hugetlbfsMount(await readFile("/proc/mounts", "utf8").catch(ignoreMissing("")), meminfo.pageBytes);
  return mount ? { mount, pageBytes: meminfo.pageBytes, freeBytes: meminfo.free * meminfo.pageBytes } : undefined;
}

/** The hugetlbfs mount for a guest of `memoryMb` when the pool has that much free now, else undefined. */
export async function hugePagesFor(memoryMb: number): Promise<string | undefined> {
  const pool = await hugetlbPool();
  return pool && pool.freeBytes >= memoryMb * 1024 * 1024 ? pool.mount : undefined;
}

/** Bytes of huge pages process `pid` maps (its guest RAM): a memory cgroup v1 does not count them. */
export async function hugetlbBytes(pid: number): Promise<number> {
  return parseSmapsHugetlb(await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(ignoreMissing("")));
}

/** /proc/meminfo's HugePages_Total, HugePages_Free and Hugepagesize; undefined without them. */
export function parseMeminfoHugePages(text: string): { total: number; free: number; pageBytes: number } | undefined {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const total = kb("HugePages_Total");
  const free = kb("HugePages_Free");
  const pageKb = kb("Hugepagesize");
  return total === undefined || free === undefined || pageKb === undefined ? undefined : { total, free, pageBytes: pageKb * 1024 };
}

/** The first hugetlbfs mount in /proc/mounts whose page size (its `pagesize=` option, else the default) is `pageBytes`. */
export function hugetlbfsMount(mounts: string, pageBytes: number): string | undefined {
  for (const line of mounts.split("\n")) {
    const [, target, fstype, options = ""] = line.split(" ");
    if (fstype !== "hugetlbfs" || !target) continue;
    const size = /(?:^|,)pagesize=(\d+)([KMG])/.exec(options);
    const bytes = size ? Number(size[1]) * 1024 ** (" KMG".indexOf(size[2]!)) : pageBytes;
    if (bytes === pageBytes) return target.replace(/\\040/g, " ");
  }
  return undefined;
}

/** Shared_Hugetlb + Private_Hugetlb of a /proc/<pid>/smaps_rollup, in bytes. */
export function parseSmapsHugetlb(text: string): number {
  let kb = 0;
  for (const m of text.matchAll(/^(?:Shared|Private)_Hugetlb:\s+(\d+) kB/gm)) kb += Number(m[1]);
  return kb * 1024;
}

/** QEMU's words when the hugetlbfs pool cannot back the guest's RAM (softmmu/physmem.c, file_ram_alloc). */
const NO_ROOM_ON_POOL = /unable to map backing store for guest RAM/;

/**
 * Launches a QEMU guest of `memoryMb` with its RAM on the pool (`launch(mount)`, for `-mem-path`) when the
 * pool has room and `enabled`, else on anonymous memory (`launch(undefined)`). A guest that loses the race
 * for the pool's last pages to another launch is launched again on anonymous memory (QEMU says so and exits
 * before it daemonizes, so nothing is left of the first try), and `note` is told.
 */
export async function launchOnHugePages<T>(memoryMb: number, enabled: boolean, launch: (memPath: string | undefined) => Promise<T>, note?: (line: string) => void): Promise<T> {
  const memPath = enabled ? await hugePagesFor(memoryMb) : undefined;
  if (!memPath) return launch(undefined);
  try {
    return await launch(memPath);
  } catch (err) {
    if (!NO_ROOM_ON_POOL.test((err as Error).message)) throw err;
    note?.("strata: the huge page pool had no room left for this guest's RAM; it is anonymous memory");
    return launch(undefined);
  }
}

/** A VMM's cgroup counters with the huge pages it maps added: they stay mapped until it exits, so they are also its peak. */
export async function withHugetlb<S extends { memoryBytes?: number; peakMemoryBytes?: number }>(stats: S, pid: number | undefined): Promise<S> {
  const huge = pid ? await hugetlbBytes(pid) : 0;
  if (huge === 0) return stats;
  return {
    ...stats,
    ...(stats.memoryBytes !== undefined && { memoryBytes: stats.memoryBytes + huge }),
    ...(stats.peakMemoryBytes !== undefined && { peakMemoryBytes: stats.peakMemoryBytes + huge }),
  };
}

/** What `strata doctor` says about a VM driver's guest RAM. */
export async function guestRamSource(enabled: boolean): Promise<string> {
  if (!enabled) return "anonymous memory (huge pages turned off for this driver)";
  const pool = await hugetlbPool();
  if (!pool) return "anonymous memory (no hugetlbfs pool: scripts/setup-host.sh reserves one, STRATA_HUGEPAGES_MB)";
  return `huge pages from ${pool.mount} while the pool has room (${Math.floor(pool.freeBytes / 1024 ** 2)} MiB free), else anonymous memory`;
}
