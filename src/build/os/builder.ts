import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { StrataError } from "../../errors.js";
import { bootstrapRootfs, readHostAptConfig, RECIPE_VERSION } from "../../images/index.js";
import type { DebianRecipe, Layer } from "../../images/index.js";
import { appImageRef, type ImageBuild, type ImageBuildContext, type ImageBuildResult } from "../image-builder.js";

/** What `runtime: os` reads from app.yaml (structural: the validated spec from config satisfies it). */
export interface OsSpec {
  readonly release: "bookworm" | "trixie";
  readonly packages: readonly string[];
  readonly "cloud-init"?: string;
  readonly files: ReadonlyArray<{ readonly source: string; readonly destination: string }>;
}

/** What every OS image carries: systemd as init, cloud-init for first boot, and the tools a machine is expected to have. */
const SYSTEM_PACKAGES = ["systemd-sysv", "cloud-init", "iproute2", "procps", "ca-certificates", "netbase"];

/** The image config label the lxd driver turns into the instance's `cloud-init.user-data` key (lxd/driver.ts LXD_CONFIG_LABEL). */
const USER_DATA_LABEL = "dev.strata.lxd.cloud-init.user-data";

/**
 * Cloud-init as Strata runs it: the LXD datasource (user-data from the instance's config through
 * /dev/lxd), and no network configuration of its own, since LXC gives eth0 its address and route from
 * Strata's bridge before init runs.
 */
const CLOUD_CFG = "datasource_list: [ LXD, NoCloud, None ]\nnetwork:\n  config: disabled\n";

/**
 * `runtime: os`: a whole Debian system for the lxd driver. The system layer (minbase + systemd, cloud-init
 * and the app's `os.packages`) is bootstrapped from Debian packages by mmdebstrap once per release and
 * package list, cached as `cache/os:<hash>`; the app layer holds `os.files` and the cloud-init settings.
 * The image boots /sbin/init; its cloud-init user-data rides in a label the driver hands to LXD.
 */
export class OsBuilder implements ImageBuild {
  readonly name = "os";

  async build(ctx: ImageBuildContext): Promise<ImageBuildResult> {
    const spec = ctx.spec as { os?: OsSpec; port?: number };
    const os: OsSpec = spec.os ?? { release: "bookworm", packages: [], files: [] };
    const port = spec.port ?? 80;
    const userData = os["cloud-init"] === undefined ? undefined : await readFile(inside(ctx.sourceDir, os["cloud-init"], "os.cloud-init"), "utf8");
    if (userData !== undefined && !userData.startsWith("#cloud-config") && !userData.startsWith("#!")) {
      throw new StrataError("BUILD_FAILED", `${os["cloud-init"]} is not cloud-init user-data: it must start with #cloud-config (or #! for a script)`);
    }
    const { layer: system, cached } = await this.systemLayer(ctx, os);
    await mkdir(join(ctx.home.root, "builds"), { recursive: true });
    const staging = await mkdtemp(join(ctx.home.root, "builds", "os-app-"));
    let appLayer: Layer;
    try {
      await mkdir(join(staging, "etc/cloud/cloud.cfg.d"), { recursive: true });
      await writeFile(join(staging, "etc/cloud/cloud.cfg.d/90-strata.cfg"), CLOUD_CFG);
      for (const f of os.files) {
        const target = join(staging, f.destination);
        await mkdir(dirname(target), { recursive: true });
        await copyFile(inside(ctx.sourceDir, f.source, "os.files"), target);
        await chmod(target, 0o644);
      }
      appLayer = await ctx.layout.addLayerFromDir(staging);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    const image = await ctx.layout.writeImage(
      [system, appLayer],
      {
        Entrypoint: ["/sbin/init"],
        ExposedPorts: { [`${port}/tcp`]: {} },
        Labels: { ...(userData !== undefined && { [USER_DATA_LABEL]: userData }), "dev.strata.runs": `Debian ${os.release}` },
      },
      appImageRef(ctx.app, ctx.version),
      [{ created_by: `strata os: debian ${os.release} + ${[...SYSTEM_PACKAGES, ...os.packages].join(" ")}` }, { created_by: "strata os: files and cloud-init settings" }],
    );
    const sizeBytes = system.descriptor.size + appLayer.descriptor.size;
    return { image, runtime: "os", runs: `Debian ${os.release} (systemd)`, cached: { dependencies: cached }, sizeBytes, port };
  }

  /** minbase + systemd + cloud-init + the app's packages, bootstrapped once per (release, packages). */
  private async systemLayer(ctx: ImageBuildContext, os: OsSpec): Promise<{ layer: Layer; cached: boolean }> {
    const apt = await readHostAptConfig();
    const packages = [...new Set([...SYSTEM_PACKAGES, ...os.packages])].sort();
    const key = createHash("sha256").update(JSON.stringify({ v: RECIPE_VERSION, release: os.release, packages, sources: apt.sourceFiles })).digest("hex").slice(0, 16);
    const ref = `cache/os:${key}`;
    const found = await ctx.layout.find(ref);
    if (found) {
      ctx.log(`system layer: Debian ${os.release} with ${os.packages.length ? os.packages.join(", ") : "no extra packages"} (cached)`);
      return { layer: { descriptor: found.manifest.layers[0]!, diffId: found.config.rootfs.diff_ids[0]! }, cached: true };
    }
    ctx.log(`system layer: bootstrapping Debian ${os.release} with systemd, cloud-init${os.packages.length ? `, ${os.packages.join(", ")}` : ""} (a few minutes the first time)`);
    const recipe: DebianRecipe = { kind: "debian", name: `os-${os.release}`, aliases: [], describes: `Debian ${os.release} system`, env: [], suite: os.release, packages };
    const work = await mkdtemp(join(ctx.home.root, "builds", "os-system-"));
    const rootfs = join(work, "rootfs");
    try {
      await bootstrapRootfs(recipe, apt, rootfs, ctx.log);
      const layer = await ctx.layout.addLayerFromDir(rootfs);
      await ctx.layout.writeImage([layer], { Entrypoint: ["/sbin/init"] }, ref, [{ created_by: `strata os: debian ${os.release} + ${packages.join(" ")}` }]);
      return { layer, cached: false };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** A path app.yaml names, inside the app's folder (not outside it through .. or a leading /). */
function inside(root: string, rel: string, key: string): string {
  const path = resolve(root, rel);
  if (path !== root && !path.startsWith(root + sep)) throw new StrataError("BUILD_FAILED", `${key}: ${rel} is outside the app's folder`);
  return path;
}
