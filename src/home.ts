import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/**
 * A daemon run by root keeps its state in /var/lib/strata, as container engines do: sandboxes run as an
 * unprivileged mapped root that must traverse the path to their rootfs, and /root is 0700. Anyone else
 * gets ~/.strata.
 */
function defaultHome(): string {
  return process.getuid?.() === 0 ? "/var/lib/strata" : join(homedir(), ".strata");
}

/**
 * Every path Strata writes lives under one data directory, STRATA_HOME (default above).
 * Parts receive a StrataHome rather than reading the environment themselves.
 */
export class StrataHome {
  readonly root: string;
  /**
   * A short, stable name for this STRATA_HOME, put in the host-wide names of what its daemon creates
   * (bridge, network namespaces, cgroups), so two daemons on one host (a test run beside a running
   * platform) never take or sweep each other's.
   */
  readonly tag: string;
  private readonly imagesRoot: string;
  /**
   * `imagesRoot` (or STRATA_IMAGES) puts base and app images elsewhere, e.g. on a bigger disk, or shared
   * by several test daemons so base images are bootstrapped once.
   */
  constructor(root?: string, imagesRoot?: string) {
    this.root = resolve(root ?? process.env.STRATA_HOME ?? defaultHome());
    this.imagesRoot = resolve(imagesRoot ?? process.env.STRATA_IMAGES ?? join(this.root, "images"));
    this.tag = createHash("sha256").update(this.root).digest("hex").slice(0, 6);
  }
  get db(): string { return join(this.root, "strata.db"); }
  get tokenFile(): string { return join(this.root, "token"); }
  /** Written by a running daemon: its pid and URLs (see daemon-info.ts DaemonInfo). */
  get daemonInfo(): string { return join(this.root, "daemon.json"); }
  get daemonLog(): string { return join(this.root, "daemon.log"); }
  get configFile(): string { return join(this.root, "config.yaml"); }
  get artifacts(): string { return join(this.root, "artifacts"); }
  get uploads(): string { return join(this.root, "uploads"); }
  get builds(): string { return join(this.root, "builds"); }
  get images(): string { return this.imagesRoot; }
  get logs(): string { return join(this.root, "logs"); }
  /** Per-driver runtime state (bundles, overlay dirs, sockets); each driver owns its subfolder. */
  runtime(driver: string): string { return join(this.root, "run", driver); }
  /** Asynchronous function invocations waiting to run: one file each, so a restart resumes them. */
  get asyncQueue(): string { return join(this.root, "queue", "async"); }
  /** Data an app keeps across its versions and instances (e.g. its Workers KV namespaces). */
  appData(app: string): string { return join(this.root, "data", app); }
}
