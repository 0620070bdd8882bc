import { mkdir, rm, writeFile } from "node:fs/promises";
import { pathExists } from "../../system/fs.js";
import { join } from "node:path";
import { exec } from "../../system/exec.js";
import { isMountpoint, unmount } from "../oci/rootfs.js";

/**
 * A mount namespace of the gVisor driver's own, in which only `runsc start` runs: /proc/sys there is an
 * empty tmpfs with just vm/ bound back in (the sentry's platform reads vm/mmap_min_addr).
 *
 * Only for Debian's runsc (the fallback when the pinned build is not installed, see runsc.ts): the pinned
 * runsc tests for /proc/sys/net/core/dev_weight, which only the root namespace has, and needs none of this.
 *
 * Why: runsc 2022-12-19's own network stack (netstack) refuses to start in any network namespace on this
 * kernel. `runsc start` joins the instance's namespace and takes the presence of
 * /proc/sys/net/core/rmem_default as the mark of the host's root namespace ("cannot run with network
 * enabled in root network namespace"), but that file is per-namespace on current kernels. Hiding /proc/sys/net
 * from that one command, and from nothing else, lets netstack run in the namespace HostNetwork made.
 *
 * The namespace is kept by a bind mount of its nsfs file in the driver's runtime dir (made once, reused
 * by every driver object of this STRATA_HOME; `ready` marks it complete) and removed by close().
 */
export class StartNamespace {
  private readonly file: string;
  private readonly marker: string;
  private readonly vmDir: string;
  private ready: Promise<void> | undefined;

  constructor(dir: string) {
    this.file = join(dir, "start-mntns");
    this.marker = join(dir, "start-mntns.ready");
    this.vmDir = join(dir, "start-mntns.vm");
  }

  /** argv prefix that runs a command in the namespace (made on first use). */
  async prefix(): Promise<readonly string[]> {
    this.ready ??= this.make().catch((err: unknown) => {
      this.ready = undefined; // retried by the next start
      throw err;
    });
    await this.ready;
    return ["nsenter", `--mount=${this.file}`, "--"];
  }

  /** Unmounts the namespace's file; running sandboxes do not need it. */
  async close(): Promise<void> {
    this.ready = undefined;
    await rm(this.marker, { force: true });
    await unmount(this.file);
    await rm(this.file, { force: true });
    await rm(this.vmDir, { recursive: true, force: true });
  }

  private async make(): Promise<void> {
    if ((await pathExists(this.marker)) && (await isMountpoint(this.file))) return;
    await this.close(); // a half-made one from a crash
    await mkdir(this.vmDir, { recursive: true });
    await writeFile(this.file, "");
    await exec(["unshare", `--mount=${this.file}`, "--propagation", "private", "true"]);
    const inside = (...argv: string[]) => exec(["nsenter", `--mount=${this.file}`, "--", ...argv]);
    await inside("mount", "--bind", "/proc/sys/vm", this.vmDir);
    await inside("mount", "-t", "tmpfs", "-o", "mode=0555,size=64k", "strata-gvisor-sysctl", "/proc/sys");
    await inside("mkdir", "/proc/sys/vm");
    await inside("mount", "--bind", this.vmDir, "/proc/sys/vm");
    await writeFile(this.marker, "");
  }
}
