import { mkdir, readdir, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OutboundNetwork, SLIRP_DNS } from "../isolation/outbound-network.js";
import { exec } from "../../system/exec.js";

/**
 * What a Dockerfile's RUN steps may reach and use. Every build gets:
 *   - its own network namespace `/run/netns/strata-dockerfile-<home tag>-<id>` with outbound access only
 *     (isolation/outbound-network.ts: slirp4netns, no path to the host's loopback): RUN apt-get reaches the
 *     Debian mirror, but not the Strata API on 127.0.0.1:7070, nor another build;
 *   - a pids cgroup of the same name that caps the processes of all its RUN steps together (runc creates
 *     each step's cgroup below it), and buildah's `--memory` on each step.
 */
export interface RunLimits {
  memoryBytes: number;
  pids: number;
}

const CGROUP_V1 = "/sys/fs/cgroup";
/** Distinct from the buildpack steps' `strata-build-*`, so a sweep never touches theirs. */
const NAME_PREFIX = "strata-dockerfile-";

export class RunIsolation {
  readonly name: string;
  private network: OutboundNetwork | undefined;
  private readonly limits: RunLimits;

  private constructor(id: string, limits: RunLimits) {
    this.name = `${NAME_PREFIX}${id}`;
    this.limits = limits;
  }

  /** Sets up the namespace and cgroup; on failure, removes what it made before rethrowing. */
  static async create(id: string, limits: RunLimits): Promise<RunIsolation> {
    const isolation = new RunIsolation(id, limits);
    try {
      await isolation.setUp();
      return isolation;
    } catch (err) {
      await isolation.destroy();
      throw err;
    }
  }

  /** Where `ip netns` lists it, so the sweep finds it by name. */
  get netnsPath(): string {
    return join("/run/netns", this.name);
  }

  /** buildah build flags that put every RUN step in this isolation. */
  buildahArgs(): string[] {
    return [
      "--network",
      `ns:${this.netnsPath}`,
      "--dns",
      SLIRP_DNS,
      // runc creates (and removes) `<name>/run` per step; the pids limit sits on `<name>` above it.
      "--cgroup-parent",
      `/${this.name}/run`,
      "--memory",
      String(this.limits.memoryBytes),
      "--memory-swap",
      String(this.limits.memoryBytes),
    ];
  }

  private async setUp(): Promise<void> {
    await mkdir(join(CGROUP_V1, "pids", this.name), { recursive: true });
    await writeFile(join(CGROUP_V1, "pids", this.name, "pids.max"), String(this.limits.pids));
    this.network = await OutboundNetwork.create(this.netnsPath);
  }

  /** Stops the network, deletes the namespace and the cgroups; safe to call twice and after a partial set-up. */
  async destroy(): Promise<void> {
    const network = this.network;
    this.network = undefined;
    await network?.destroy();
    await removeCgroups(this.name);
  }
}

/** rmdir `<name>/run` then `<name>` in every v1 hierarchy (runc made them in all of them). */
async function removeCgroups(name: string): Promise<void> {
  for (const hierarchy of await readdir(CGROUP_V1)) {
    for (const dir of [join(CGROUP_V1, hierarchy, name, "run"), join(CGROUP_V1, hierarchy, name)]) {
      await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT" && err.code !== "ENOTDIR") throw err; // not made in this hierarchy
      });
    }
  }
}

/**
 * Removes what builds killed with the daemon left behind (namespaces and cgroups named
 * strata-dockerfile-<home tag>-*: this home's, not another daemon's); call when no build of this home runs.
 */
export async function sweepRunIsolation(homeTag: string): Promise<void> {
  const prefix = `${NAME_PREFIX}${homeTag}-`;
  const netns = await readdir("/run/netns").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[]; // no namespace was ever made
    throw err;
  });
  for (const n of netns) if (n.startsWith(prefix)) await exec(["ip", "netns", "delete", n], { okCodes: [0, 1] });
  const pids = await readdir(join(CGROUP_V1, "pids"));
  for (const n of pids) if (n.startsWith(prefix)) await removeCgroups(n);
}
