import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { StrataHome } from "../../home.js";
import { exec } from "../../system/exec.js";

/**
 * Buildpack steps work under STRATA_HOME/builds/buildpack/<step id>: an overlay mount, runc state, the
 * upper dir, and for a step with outbound network its namespace file (a mount too). Steps remove their
 * own dir in a finally; `sweepBuildpackWork` clears what a killed daemon left (the daemon calls it at
 * start-up, when no build runs); unmounting a namespace file frees the namespace, and its slirp4netns
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
