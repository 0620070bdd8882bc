import { readdir, readFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { StrataHome } from "../../src/home.js";

/**
 * Everything on the host that a stopped daemon with home `home` left: network namespaces and veths of its
 * home (named `strata-<tag>-<slot>` and `sv-<tag><slot>`, spares included), and what still names one of
 * `ids` (instance ids): links, mounts, cgroup directories.
 */
export async function leftoversOf(home: string, ids: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  const tag = new StrataHome(home).tag;
  const netnsOfHome = execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").filter((l) => l.startsWith(`strata-${tag}-`));
  for (const ns of netnsOfHome) found.push(`netns ${ns.split(" ")[0]}`);
  const vethsOfHome = execFileSync("ip", ["-o", "link", "show", "type", "veth"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(`: sv-${tag}`));
  for (const link of vethsOfHome) found.push(`veth ${link.split(": ")[1]?.split("@")[0]}`);
  if (ids.length === 0) return found;
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
