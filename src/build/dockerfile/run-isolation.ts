import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readdir, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { exec } from "../../system/exec.js";

/**
 * What a Dockerfile's RUN steps may reach and use. Every build gets:
 *   - its own network namespace `strata-dockerfile-<id>`, connected to the outside by slirp4netns (user-mode
 *     NAT): RUN apt-get reaches the Debian mirror, but not the host's loopback services (the Strata API
 *     on 127.0.0.1:7070) — 127.0.0.1 is the namespace's own, and `--disable-host-loopback` refuses
 *     slirp's alias for the host (10.0.2.2) — nor another build, which has its own namespace and slirp;
 *   - a pids cgroup `strata-dockerfile-<id>` that caps the processes of all its RUN steps together (runc creates
 *     each step's cgroup below it), and buildah's `--memory` on each step.
 */
export interface RunLimits {
  memoryBytes: number;
  pids: number;
}

const CGROUP_V1 = "/sys/fs/cgroup";
/** Distinct from the buildpack steps' `strata-build-*`, so a sweep never touches theirs. */
const NAME_PREFIX = "strata-dockerfile-";
/** slirp4netns's documented MTU for throughput. */
const SLIRP_MTU = "65520";
/** slirp4netns's DNS forwarder inside the namespace (it resolves with the host's resolver). */
export const SLIRP_DNS = "10.0.2.3";

export class RunIsolation {
  readonly name: string;
  private slirp: ChildProcess | undefined;
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

  get netnsPath(): string {
    return `/run/netns/${this.name}`;
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
    await exec(["ip", "netns", "add", this.name]);
    await this.startSlirp();
  }

  /**
   * slirp4netns runs for the whole build, so it is spawned directly (exec waits for exit). fd 3 tells us
   * when the tap device is configured; fd 4 is its exit pipe: it quits when Strata closes it or dies.
   * (Its --enable-sandbox is not used: its pivot_root unmounts /run/netns/* through shared propagation.)
   */
  private async startSlirp(): Promise<void> {
    const child = spawn(
      "slirp4netns",
      ["--configure", `--mtu=${SLIRP_MTU}`, "--disable-host-loopback", "--ready-fd=3", "--exit-fd=4", "--netns-type=path", this.netnsPath, "tap0"],
      { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
    );
    this.slirp = child;
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr = (stderr + c).slice(-2000)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StrataError("COMMAND_FAILED", `slirp4netns did not configure ${this.name} within 10 s: ${stderr}`)), 10_000);
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new StrataError("COMMAND_FAILED", `slirp4netns for ${this.name} ${why}: ${stderr.trim()}`));
      };
      child.once("error", (err) => fail(`could not start (${err.message}; scripts/setup-host.sh installs slirp4netns)`));
      child.once("exit", (code) => fail(`exited ${code}`));
      (child.stdio[3] as NodeJS.ReadableStream).once("data", () => {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve();
      });
    });
  }

  /** Stops slirp4netns, deletes the namespace and the cgroups; safe to call twice and after a partial set-up. */
  async destroy(): Promise<void> {
    const slirp = this.slirp;
    this.slirp = undefined;
    if (slirp && slirp.exitCode === null && slirp.signalCode === null) {
      const exited = new Promise((r) => slirp.once("exit", r));
      (slirp.stdio[4] as NodeJS.WritableStream & { destroy(): void }).destroy(); // the exit pipe: slirp4netns quits when it closes
      const timer = setTimeout(() => slirp.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await exec(["ip", "netns", "delete", this.name], { okCodes: [0, 1] }); // 1: it was never made
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

/** Removes what builds killed with the daemon left behind (namespaces and cgroups named strata-dockerfile-*); call when no build runs. */
export async function sweepRunIsolation(): Promise<void> {
  const netns = await readdir("/run/netns").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[]; // no namespace was ever made
    throw err;
  });
  for (const n of netns) if (n.startsWith(NAME_PREFIX)) await exec(["ip", "netns", "delete", n], { okCodes: [0, 1] });
  const pids = await readdir(join(CGROUP_V1, "pids"));
  for (const n of pids) if (n.startsWith(NAME_PREFIX)) await removeCgroups(n);
}
