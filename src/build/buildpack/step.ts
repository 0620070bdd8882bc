import { chmod, chown, mkdir, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { StrataError } from "../../errors.js";
import { lineSplitter, overlayToOciWhiteouts } from "../../images/index.js";
import { exec, type ExecResult } from "../../system/exec.js";
import { OutboundNetwork } from "../isolation/outbound-network.js";

/**
 * Runs build commands (pip, npm) inside a base image's userland, so that what they install matches the
 * runtime image's ABI and paths. The image's unpacked layers are overlayfs lower dirs; a fresh upper dir
 * collects what the commands change, and becomes the new layer. Each command runs in a runc container
 * (own pid, mount, ipc, uts namespaces, cgroup pids/memory limits, Docker's default capability set, or
 * none at all for a step with an unprivileged `user`):
 *   - network "none": a new empty network namespace (pip with --no-index cannot reach anything);
 *   - network "outbound": a namespace of the step's own whose only way out is slirp4netns's NAT
 *     (isolation/outbound-network.ts), for npm and pip, which need a registry: they reach what the host
 *     reaches, except the host's loopback services.
 * /tmp is a tmpfs and HOME points into it, so caches (pip, npm) never land in the layer.
 */
export interface StepMount {
  source: string;
  destination: string;
  readonly: boolean;
}

export interface StepCommand {
  argv: string[];
  cwd: string;
  /** Extra KEY=VALUE pairs on top of the step's env. */
  env?: string[];
}

export interface StepOptions {
  /** Goes into every resource name: container `strata-build-<id>`, its cgroup, its work dir. */
  id: string;
  /** Unpacked layers, bottom first (as unpackLayers returns them). */
  lowerDirs: readonly string[];
  /** A directory this step owns; removed by `discard()`. */
  workDir: string;
  mounts: readonly StepMount[];
  network: StepNetwork;
  /** Runs the commands as this user with no capabilities (default: root with Docker's set). */
  user?: StepUser;
  env: readonly string[];
  log: (line: string) => void;
}

export type StepNetwork = "none" | "outbound";

export interface StepUser {
  uid: number;
  gid: number;
}

/**
 * nobody:nogroup, in every base image (so a script asking who it is finds a passwd entry). What it
 * creates is handed to root when the layer is made (`finish()`), so the app, which runs as nobody too,
 * cannot change its own dependencies.
 */
export const UNPRIVILEGED_BUILD_USER: StepUser = { uid: 65534, gid: 65534 };

/** Docker's default capability set, minus MKNOD (a build has no business creating device nodes). */
const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_AUDIT_WRITE",
];

const STEP_TIMEOUT_MS = 20 * 60_000;

/** Debian's CA bundle path, on the host and in images with ca-certificates. */
const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * One overlay over the image, one or more commands in it, one resulting layer dir. Call `run()` for each
 * command, then `finish()` for the upper dir as an OCI layer tree, and `discard()` (always, in a finally).
 */
export class BuildStep {
  readonly rootfs: string;
  readonly upperDir: string;
  private readonly opts: StepOptions;
  private readonly containerId: string;
  private readonly runcRoot: string;
  private mounted = false;
  private network: OutboundNetwork | undefined;
  private commands = 0;

  constructor(opts: StepOptions) {
    this.opts = opts;
    this.containerId = `strata-build-${opts.id}`;
    this.rootfs = join(opts.workDir, "merged");
    this.upperDir = join(opts.workDir, "upper");
    this.runcRoot = join(opts.workDir, "runc");
  }

  /** Mounts the overlay (and connects the step's network); files written under `rootfs` afterwards land in the new layer. */
  async mount(): Promise<void> {
    const work = join(this.opts.workDir, "work");
    for (const d of [this.upperDir, work, this.rootfs, this.runcRoot]) await mkdir(d, { recursive: true, mode: 0o755 });
    const lower = [...this.opts.lowerDirs].reverse().join(":"); // overlayfs lists the top layer first
    // redirect_dir/metacopy off: a renamed or chmod-ed lower file is copied up whole, so the upper dir
    // converts to a plain OCI layer (whiteouts and opaque dirs are the only special entries).
    await exec([
      "mount",
      "-t",
      "overlay",
      `strata-build-${this.opts.id}`,
      "-o",
      `lowerdir=${lower},upperdir=${this.upperDir},workdir=${work},redirect_dir=off,metacopy=off,index=off`,
      this.rootfs,
    ]);
    this.mounted = true;
    if (this.opts.network === "outbound") {
      // In the work dir: the build's own (discard() or the work-dir sweep removes it), named by the step id.
      this.network = await OutboundNetwork.create(join(this.opts.workDir, "netns"));
      await writeFile(join(this.opts.workDir, "resolv.conf"), OutboundNetwork.resolvConf());
    }
  }

  /** Runs one command in a fresh container over the overlay; `quiet` keeps stdout out of the log (it is returned). */
  async run(command: StepCommand, opts: { quiet?: boolean } = {}): Promise<ExecResult> {
    if (!this.mounted) throw new StrataError("INTERNAL", "BuildStep.run before mount()");
    const bundle = join(this.opts.workDir, `bundle-${this.commands++}`);
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, "config.json"), JSON.stringify(this.runtimeSpec(command, await this.hostTrustMount())));
    this.opts.log(`$ ${command.argv.join(" ")}`);
    const lines = lineSplitter(this.opts.log);
    try {
      return await exec(["runc", "--root", this.runcRoot, "run", "--bundle", bundle, this.containerId], {
        onOutput: (chunk, stream) => {
          if (!(opts.quiet && stream === "stdout")) lines.write(chunk);
        },
        timeoutMs: STEP_TIMEOUT_MS,
      });
    } finally {
      lines.flush();
      // `runc run` removes the container when it exits; this covers a kill or timeout mid-run.
      await exec(["runc", "--root", this.runcRoot, "delete", "--force", this.containerId], { okCodes: [0, 1] });
    }
  }

  /** Writes a file into the step's filesystem (it lands in the new layer). */
  async writeFile(pathInImage: string, content: string, mode: number): Promise<void> {
    if (!this.mounted) throw new StrataError("INTERNAL", "BuildStep.writeFile before mount()");
    const target = join(this.rootfs, pathInImage);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content, { mode });
    await chmod(target, mode);
  }

  /** Makes a directory (and its parents) that the step's commands may write to, whichever user they run as. */
  async writableDir(pathInImage: string): Promise<void> {
    if (!this.mounted) throw new StrataError("INTERNAL", "BuildStep.writableDir before mount()");
    const target = join(this.rootfs, pathInImage);
    await mkdir(target, { recursive: true, mode: 0o755 });
    if (this.opts.user) await chown(target, this.opts.user.uid, this.opts.user.gid);
  }

  /** Hands a tree written into the step (e.g. a copied `file:` dependency) to the step's user, so its commands can build in it. */
  async ownTree(pathInImage: string): Promise<void> {
    if (this.opts.user) await exec(["chown", "-R", "-P", `${this.opts.user.uid}:${this.opts.user.gid}`, join(this.rootfs, pathInImage)]);
  }

  /** Removes a file this step wrote (before finish(); a file from a lower layer would leave a whiteout). */
  async removeFile(pathInImage: string): Promise<void> {
    await rm(join(this.rootfs, pathInImage), { force: true });
  }

  /** Unmounts and turns the upper dir into an OCI layer tree (overlay whiteouts -> `.wh.` files). */
  async finish(): Promise<string> {
    await this.unmount();
    // runc created these mount points in the upper dir; they are not part of what the step built.
    for (const m of this.opts.mounts) await rmdir(join(this.upperDir, m.destination)).catch(ignoreNotEmptyOrMissing);
    // What the unprivileged user made becomes root's: read-only to the app's user, as the rest of /app is.
    // -P: symlinks themselves, never what they point to.
    if (this.opts.user) await exec(["chown", "-R", "-P", `--from=${this.opts.user.uid}`, "0:0", this.upperDir]);
    await overlayToOciWhiteouts(this.upperDir);
    return this.upperDir;
  }

  async discard(): Promise<void> {
    await exec(["runc", "--root", this.runcRoot, "delete", "--force", this.containerId], { okCodes: [0, 1] }).catch(
      (err: unknown) => this.opts.log(`warning: runc delete ${this.containerId}: ${(err as Error).message}`),
    );
    const network = this.network;
    this.network = undefined;
    await network?.destroy();
    await this.unmount();
    await rm(this.opts.workDir, { recursive: true, force: true });
  }

  private async unmount(): Promise<void> {
    if (!this.mounted) return;
    await exec(["umount", this.rootfs]);
    this.mounted = false;
  }

  /**
   * A step with outbound network also trusts what the host trusts: a host behind a TLS-inspecting proxy
   * reaches the npm registry only with the proxy's CA, which is in the host's bundle, not the image's.
   * Mounted over the image's bundle (when the image has one), read-only, for the step only.
   */
  private async hostTrustMount(): Promise<object | null> {
    if (this.opts.network !== "outbound") return null;
    const inImage = join(this.rootfs, HOST_CA_BUNDLE);
    if (!(await isFile(HOST_CA_BUNDLE)) || !(await isFile(inImage))) return null;
    return { destination: HOST_CA_BUNDLE, type: "bind", source: HOST_CA_BUNDLE, options: ["bind", "ro"] };
  }

  private runtimeSpec(command: StepCommand, trust: object | null): object {
    const namespaces: object[] = [
      ...["pid", "ipc", "uts", "mount"].map((type) => ({ type })),
      this.network ? { type: "network", path: this.network.path } : { type: "network" },
    ];
    const mounts: object[] = [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
      ...this.opts.mounts.map((m) => ({
        destination: m.destination,
        type: "bind",
        source: m.source,
        options: ["rbind", m.readonly ? "ro" : "rw"],
      })),
      ...(this.network
        ? [{ destination: "/etc/resolv.conf", type: "bind", source: join(this.opts.workDir, "resolv.conf"), options: ["bind", "ro"] }]
        : []),
      ...(trust ? [trust] : []),
    ];
    return {
      ociVersion: "1.0.2",
      process: {
        terminal: false,
        user: this.opts.user ?? { uid: 0, gid: 0 },
        args: command.argv,
        // Node reads only its built-in roots unless told; NODE_EXTRA_CA_CERTS adds the (host's) bundle.
        env: ["HOME=/tmp", ...(trust ? [`NODE_EXTRA_CA_CERTS=${HOST_CA_BUNDLE}`] : []), ...this.opts.env, ...(command.env ?? [])],
        cwd: command.cwd,
        capabilities: this.opts.user ? { bounding: [], effective: [], permitted: [] } : { bounding: CAPABILITIES, effective: CAPABILITIES, permitted: CAPABILITIES },
        noNewPrivileges: true,
      },
      root: { path: this.rootfs, readonly: false },
      hostname: "strata-build",
      mounts,
      linux: {
        namespaces,
        cgroupsPath: `/strata-build-${this.opts.id}`,
        resources: { pids: { limit: 4096 }, memory: { limit: 4 * 1024 ** 3 } },
        maskedPaths: ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware"],
        readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
      },
    };
  }
}

function ignoreNotEmptyOrMissing(err: unknown): void {
  const code = (err as NodeJS.ErrnoException).code;
  // ENOTEMPTY: the path existed in the image and the step put files there; ENOENT: no mount point was made.
  if (code !== "ENOTEMPTY" && code !== "ENOENT" && code !== "ENOTDIR") throw err;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
