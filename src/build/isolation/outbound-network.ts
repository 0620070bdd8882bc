import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { StrataError } from "../../errors.js";
import { exec } from "../../system/exec.js";

/**
 * A network namespace for build commands (Dockerfile RUN steps, npm and pip in buildpack steps) whose
 * only way out is slirp4netns, a user-mode NAT: the commands reach the package registries the host
 * reaches, but not the host's loopback services (the Strata API on 127.0.0.1:7070): 127.0.0.1 inside is
 * the namespace's own, and `--disable-host-loopback` refuses slirp's alias for the host (10.0.2.2).
 * Two builds never share a namespace, so one cannot reach the other either.
 *
 * The namespace is a bind mount of a nsfs file at a path the caller chooses (under /run/netns, where
 * `ip netns` lists it, or in a build's own work dir, which that build's sweep unmounts with the rest).
 */

/** slirp4netns's DNS forwarder inside the namespace (it resolves with the host's resolver). */
export const SLIRP_DNS = "10.0.2.3";
/** slirp4netns's documented MTU for throughput. */
const SLIRP_MTU = "65520";
const SLIRP_READY_TIMEOUT_MS = 10_000;

export class OutboundNetwork {
  /** The namespace file: runc's `namespaces[].path`, buildah's `--network ns:<path>`. */
  readonly path: string;
  private slirp: ChildProcess | undefined;
  private created = false;

  private constructor(path: string) {
    this.path = path;
  }

  /** Makes the namespace at `path` (which must not exist) and connects it; on failure, removes what it made before rethrowing. */
  static async create(path: string): Promise<OutboundNetwork> {
    const network = new OutboundNetwork(path);
    try {
      await network.setUp();
      return network;
    } catch (err) {
      await network.destroy();
      throw err;
    }
  }

  /** resolv.conf content for commands in the namespace. */
  static resolvConf(): string {
    return `nameserver ${SLIRP_DNS}\n`;
  }

  private async setUp(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFile(this.path, "", { flag: "wx" }); // the bind-mount target; wx: never adopt someone else's
    this.created = true;
    // `unshare --net=<file>` makes a namespace and keeps it alive by bind-mounting it on the file.
    await exec(["unshare", `--net=${this.path}`, "true"]);
    await this.startSlirp();
  }

  /**
   * slirp4netns runs as long as the namespace is used, so it is spawned directly (exec waits for exit).
   * fd 3 tells us when the tap device is configured; fd 4 is its exit pipe: it quits when Strata closes it
   * or dies. (Its --enable-sandbox is not used: its pivot_root unmounts /run/netns/* through shared
   * propagation.)
   */
  private async startSlirp(): Promise<void> {
    const child = spawn(
      "slirp4netns",
      ["--configure", `--mtu=${SLIRP_MTU}`, "--disable-host-loopback", "--ready-fd=3", "--exit-fd=4", "--netns-type=path", this.path, "tap0"],
      { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
    );
    this.slirp = child;
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr = (stderr + c).slice(-2000)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StrataError("COMMAND_FAILED", `slirp4netns did not configure ${this.path} within ${SLIRP_READY_TIMEOUT_MS / 1000} s: ${stderr}`)),
        SLIRP_READY_TIMEOUT_MS,
      );
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new StrataError("COMMAND_FAILED", `slirp4netns for ${this.path} ${why}: ${stderr.trim()}`));
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

  /** Stops slirp4netns and removes the namespace; safe to call twice and after a partial set-up. */
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
    if (!this.created) return;
    await removeNetns(this.path);
    this.created = false;
  }
}

/** Unmounts a namespace file (the namespace goes once nothing else holds it) and removes it; a missing or unmounted one is fine. */
async function removeNetns(path: string): Promise<void> {
  await exec(["umount", path], { okCodes: [0, 32] }); // 32: not mounted (set-up failed before the bind mount)
  await rm(path, { force: true });
}
