import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { StrataHome } from "../../home.js";
import { exec, type ExecOptions, type ExecResult } from "../../system/exec.js";

/**
 * buildah, pointed at Strata's own container storage under STRATA_HOME/run/buildah (overlay driver on the
 * host filesystem), so that Strata owns every image, cache layer and container it makes, and a test can use
 * a temporary home. The storage holds the base images (pulled from Strata's OCI layout and tagged with the
 * names Dockerfiles use) and buildah's step cache (`--layers`).
 */

/** crun, buildah's default, fails on hybrid cgroup hosts ("cgroups in hybrid mode not supported"). */
export const BUILD_RUNTIME = "/usr/sbin/runc";

export function buildahPaths(home: StrataHome): { root: string; runroot: string } {
  const base = home.runtime("buildah");
  return { root: join(base, "storage"), runroot: join(base, "run") };
}

/** The image config fields buildah reports for an image (`buildah inspect --type image`). */
export interface BuildahImage {
  /** Docker-format config (carries Healthcheck, which the OCI config has no field for). */
  Docker?: { config?: { Healthcheck?: DockerHealthcheck } };
  OCIv1?: { rootfs?: { diff_ids?: string[] } };
}

export interface DockerHealthcheck {
  Test?: string[];
  /** Nanoseconds, as Docker's image config stores them. */
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

export class Buildah {
  readonly root: string;
  readonly runroot: string;

  constructor(home: StrataHome) {
    ({ root: this.root, runroot: this.runroot } = buildahPaths(home));
  }

  /** Runs `buildah <global storage flags> <args>`. */
  run(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return exec(["buildah", "--root", this.root, "--runroot", this.runroot, "--storage-driver", "overlay", ...args], opts);
  }

  /** Whether the storage holds an image with this id (a config digest's hex) or name. */
  async hasImage(idOrName: string): Promise<boolean> {
    // 125: buildah's "image not known".
    const { code } = await this.run(["inspect", "--type", "image", "--format", "{{.FromImageID}}", idOrName], { okCodes: [0, 125] });
    return code === 0;
  }

  async inspectImage(id: string): Promise<BuildahImage> {
    return JSON.parse((await this.run(["inspect", "--type", "image", id])).stdout) as BuildahImage;
  }

  /**
   * Makes `name` point at the image `ref` of an OCI layout, copying it into the storage only when its id is
   * not there yet. The id is the config digest, so the same base image keeps the same id, which is what
   * keeps buildah's step cache valid across builds.
   */
  async provide(layoutDir: string, ref: string, configDigest: string, name: string): Promise<void> {
    const id = configDigest.replace(/^sha256:/, "");
    if (await this.hasImage(id)) {
      await this.run(["tag", id, name]);
      return;
    }
    // skopeo rather than `buildah pull`, which would also name the image after the layout's path.
    await exec(
      [
        "skopeo",
        "copy",
        "--insecure-policy", // a local layout Strata wrote: no signature to check
        "--quiet",
        `oci:${layoutDir}:${ref}`,
        `containers-storage:[overlay@${this.root}+${this.runroot}]${name}`,
      ],
      { timeoutMs: 10 * 60_000 },
    );
  }

  /**
   * Image GC's part here: the storage's dangling images, i.e. untagged ones no other image descends from
   * (each build's result once exported to the layout, then the step-cache images under it), are removed
   * (listed only, with `dryRun`). Tagged base images stay. Returns their ids.
   */
  async pruneDangling(dryRun: boolean): Promise<string[]> {
    const { stdout } = dryRun
      ? await this.run(["images", "--quiet", "--no-trunc", "--filter", "dangling=true"])
      : await this.run(["rmi", "--prune"], { timeoutMs: 10 * 60_000 });
    return stdout.split("\n").map((l) => l.trim().replace(/^sha256:/, "")).filter(Boolean);
  }

  /**
   * Removes every container and image of this storage, then the storage itself (for temporary homes and
   * `strata` clean-ups; the overlay driver may leave its directory mounted, so mounts under it go first).
   */
  async destroyStorage(): Promise<void> {
    await this.run(["rm", "--all"], { okCodes: [0, 1, 125] }); // non-zero when there is nothing to remove
    await this.run(["rmi", "--all", "--force"], { okCodes: [0, 1, 125] });
    const base = join(this.root, "..");
    const mounts = (await readFile("/proc/self/mountinfo", "utf8"))
      .split("\n")
      .map((l) => l.split(" ")[4])
      .filter((p): p is string => Boolean(p && (p.startsWith(`${this.root}/`) || p.startsWith(`${this.runroot}/`) || p === this.root)))
      .sort((a, b) => b.length - a.length);
    for (const p of mounts) await exec(["umount", "--lazy", p]);
    await rm(base, { recursive: true, force: true }); // STRATA_HOME/run/buildah: storage and runroot
  }
}
