import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { StrataHome } from "../../home.js";
import { exec } from "../../system/exec.js";
import { ignoreMissing, pathExists } from "../../system/fs.js";

/**
 * Buildpack steps work under STRATA_HOME/builds/buildpack/<step id>: an overlay mount, runc state, the
 * upper dir, and for a step with outbound network its namespace file (a mount too). Steps remove their
 * own dir in a finally; `sweepBuildpackWork` clears what a killed daemon left (the daemon calls it at
 * start-up, before it takes deploys): step containers still running, then mounts and dirs; unmounting a namespace file frees the namespace, and its slirp4netns
 * quit with the daemon (its exit pipe).
 */
export function buildpackWorkRoot(home: StrataHome): string {
  return join(home.builds, "buildpack");
}

export function stepWorkDir(home: StrataHome, id: string): string {
  return join(buildpackWorkRoot(home), id);
}

export async function sweepBuildpackWork(home: StrataHome): Promise<void> {
  const root = buildpackWorkRoot(home);
  // A step's command outlives a daemon killed mid-build (runc run is its own process): kill and delete
  // each step container first, which also removes its cgroup.
  for (const id of await readdir(root).catch(ignoreMissing([] as string[]))) {
    const runcRoot = join(root, id, "runc");
    if (!(await pathExists(runcRoot))) continue;
    const listed = await exec(["runc", "--root", runcRoot, "list", "--quiet"]);
    for (const container of listed.stdout.split("\n").filter(Boolean)) {
      await exec(["runc", "--root", runcRoot, "delete", "--force", container], { okCodes: [0, 1] });
    }
  }
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  // Field 5 is the mount point (octal-escaped); deepest first so nested mounts go before their parents.
  const points = mountinfo
    .split("\n")
    .map((l) => l.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p): p is string => Boolean(p?.startsWith(`${root}/`)))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await exec(["umount", "--lazy", p]);
  await rm(root, { recursive: true, force: true });
}
