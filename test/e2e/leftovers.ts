import { readdir, readFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * Everything on the host that still names one of `ids` (instance ids): network namespaces, links,
 * mounts, cgroup directories, processes' command lines. Drivers name every resource after its instance.
 */
export async function leftoversOf(ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const found: string[] = [];
  const has = (text: string) => ids.filter((id) => text.includes(id) || text.includes(id.slice(1, 11)));
  const netns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  for (const id of has(netns)) found.push(`netns of ${id}`);
  const links = execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" });
  for (const id of has(links)) found.push(`link of ${id}`);
  const mounts = await readFile("/proc/self/mounts", "utf8");
  for (const id of has(mounts)) found.push(`mount of ${id}`);
  for (const controller of ["memory", "pids", "cpu"]) {
    const root = join("/sys/fs/cgroup", controller);
    const dirs = await walk(root, 3);
    for (const id of has(dirs.join("\n"))) found.push(`cgroup ${controller} of ${id}`);
  }
  return found;
}

async function walk(dir: string, depth: number): Promise<string[]> {
  if (depth === 0) return [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return []; // a controller this host does not mount
  }
  const out: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const p = join(dir, e.name);
    out.push(p, ...(await walk(p, depth - 1)));
  }
  return out;
}
