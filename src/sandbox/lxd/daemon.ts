import { spawn } from "node:child_process";
import { chmod, mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { exec, which } from "../../system/exec.js";
import { LxdClient } from "./client.js";

/** Strata's LXD: a `dir` storage pool and no LXD-managed network (instances get their NIC from Strata's bridge). */
const PRESEED = `storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
`;

/**
 * The LXD daemon Strata owns: one per STRATA_HOME, with its own LXD_DIR under the driver's runtime dir,
 * started as `lxd --group root` (no systemd here), awaited with `lxd waitready`, initialised once with
 * `lxd init --preseed`. It is spawned detached and outlives the Strata daemon, as conmon does, so the
 * instances it holds can be re-adopted after a restart; `shutdown()` ends it once no instance is left.
 */
export class LxdDaemon {
  readonly lxdDir: string;
  readonly client: LxdClient;
  private ready: Promise<LxdClient> | undefined;

  /** `traversable`: directories from STRATA_HOME down to `dir`, which the containers' mapped root must pass through. */
  constructor(
    private readonly dir: string,
    private readonly traversable: readonly string[] = [],
  ) {
    this.lxdDir = join(dir, "daemon");
    this.client = new LxdClient(join(this.lxdDir, "unix.socket"));
  }

  /** The client, once the daemon answers and has its storage pool (started and initialised when needed). */
  ensure(): Promise<LxdClient> {
    this.ready ??= this.start().catch((err: unknown) => {
      this.ready = undefined; // retried next time
      throw err;
    });
    return this.ready;
  }

  private async start(): Promise<LxdClient> {
    if (!(await this.client.alive())) {
      const lxd = await which("lxd");
      if (!lxd) throw new StrataError("SANDBOX_UNAVAILABLE", "lxd is not installed (run scripts/setup-host.sh)");
      await mkdir(this.lxdDir, { recursive: true, mode: 0o711 });
      // LXC starts a container from inside its user namespace: every directory above its rootfs must be o+x.
      for (const d of [...this.traversable, this.dir, this.lxdDir]) await chmod(d, 0o711);
      const log = await open(join(this.dir, "lxd.log"), "a");
      try {
        const child = spawn(lxd, ["--group", "root", "--logfile", join(this.dir, "lxd.log")], {
          env: this.env(),
          detached: true,
          stdio: ["ignore", log.fd, log.fd],
        });
        child.on("error", () => undefined); // waitready below reports a daemon that did not come up
        child.unref();
      } finally {
        await log.close();
      }
      await exec([lxd, "waitready", "--timeout", "60"], { env: this.env() }).catch((err: unknown) => {
        throw new StrataError("SANDBOX_UNAVAILABLE", `LXD did not come up (see ${join(this.dir, "lxd.log")}): ${(err as Error).message}`, undefined, { cause: err });
      });
    }
    const pools = await this.client.get<string[]>("/1.0/storage-pools");
    if (!pools.some((p) => p.endsWith("/default"))) await exec(["lxd", "init", "--preseed"], { env: this.env(), input: PRESEED });
    return this.client;
  }

  /** Stops the daemon when it holds no instance (at Strata's shutdown); instances left running keep it up. */
  async shutdown(): Promise<void> {
    if (!(await this.client.alive())) return;
    const instances = await this.client.get<string[]>("/1.0/instances");
    if (instances.length > 0) return;
    await exec(["lxd", "shutdown", "--timeout", "30"], { env: this.env() });
    this.ready = undefined;
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, LXD_DIR: this.lxdDir };
  }
}
