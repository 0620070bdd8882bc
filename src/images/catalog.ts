import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { StrataError } from "../errors.js";
import type { StrataHome } from "../home.js";
import type { ImageRef } from "./image-ref.js";
import { bootstrapRootfs, packageVersion, packageVersions } from "./bootstrap.js";
import { upstreamVersion } from "./language-image.js";
import { withFileLock } from "../system/file-lock.js";
import { readHostAptConfig, type HostAptConfig } from "./host-apt.js";
import type { ImageConfig, ImageSummary, Layer, OciLayout } from "./layout.js";
import { nodeDistributionTree } from "./node-distribution.js";
import {
  findRecipe,
  RECIPES,
  recipeHash,
  unavailableReason,
  type BaseImageRecipe,
  type DebianRecipe,
  type NodeDistributionRecipe,
} from "./recipes.js";

/** Where the image store keeps things under STRATA_HOME/images. */
export function imagePaths(home: StrataHome): { layout: string; unpacked: string; work: string; locks: string } {
  return {
    layout: join(home.images, "oci"),
    unpacked: join(home.images, "unpacked"),
    work: join(home.images, "work"),
    locks: join(home.images, "locks"),
  };
}

/** What a recipe's build contributes to its image. */
interface BuiltLayers {
  layers: Layer[];
  /** The `dev.strata.packages` label: name=version of what the recipe installed. */
  packages: string;
  /** The `dev.strata.runs` label: the exact language version the image carries (3.13.5), where it carries one. */
  runs?: string;
  history: NonNullable<ImageConfig["history"]>;
}

/** The image config label holding the exact language version a base image carries. */
export const RUNS_LABEL = "dev.strata.runs";

/** Base images live in the layout as `base/<recipe>:<first 16 hex of the recipe hash>`. */
const BASE_PREFIX = "base/";

/**
 * The local catalog of base images. `ensure(name)` returns the image for a recipe name or alias
 * (`python`, `python:3.11`, `debian:bookworm`, `node:18`, `nodejs20`), building it once when the layout
 * does not hold it yet: with mmdebstrap, or, for a Node.js major Debian lacks, as the debian image plus
 * a layer from the npm registry. Concurrent requests share one build: a promise per ref in this process,
 * a lock file across processes.
 */
export class ImageCatalog {
  private readonly home: StrataHome;
  private readonly layout: OciLayout;
  private readonly inflight = new Map<string, Promise<ImageRef>>();
  private apt: Promise<HostAptConfig> | undefined;

  constructor(home: StrataHome, layout: OciLayout) {
    this.home = home;
    this.layout = layout;
  }

  recipes(): string[] {
    return RECIPES.map((r) => r.name);
  }

  /** The recipe a name resolves to; throws a user error naming the known images otherwise. */
  recipeFor(name: string): BaseImageRecipe {
    const recipe = findRecipe(name);
    if (recipe) return recipe;
    const reason = unavailableReason(name);
    if (reason) throw new StrataError("UNSUPPORTED_RUNTIME", `base image "${name}" is not available: ${reason}`);
    const known = RECIPES.flatMap((r) => [r.name, ...r.aliases]).join(", ");
    throw new StrataError("NOT_FOUND", `no base image "${name}"; known: ${known}`);
  }

  /** The layout ref the recipe's current build lives under (changes when the recipe or apt sources change). */
  async refFor(name: string): Promise<string> {
    const recipe = this.recipeFor(name);
    const apt = await this.hostApt();
    return `${BASE_PREFIX}${recipe.name}:${recipeHash(recipe, apt.fingerprint).slice(0, 16)}`;
  }

  async ensure(name: string, onProgress: (line: string) => void = () => {}): Promise<ImageRef> {
    const recipe = this.recipeFor(name);
    const ref = await this.refFor(name);
    const running = this.inflight.get(ref);
    if (running) {
      onProgress(`base image ${ref} is being built by another request; waiting`);
      return running;
    }
    const job = this.ensureUnshared(recipe, ref, onProgress).finally(() => this.inflight.delete(ref));
    this.inflight.set(ref, job);
    return job;
  }

  async list(): Promise<ImageSummary[]> {
    await this.layout.init();
    return (await this.layout.list()).filter((i) => i.ref.startsWith(BASE_PREFIX));
  }

  private async ensureUnshared(recipe: BaseImageRecipe, ref: string, onProgress: (line: string) => void): Promise<ImageRef> {
    await this.layout.init();
    const cached = await this.lookup(ref);
    if (cached) {
      onProgress(`base image ${ref} (cached)`);
      return cached;
    }
    const paths = imagePaths(this.home);
    await mkdir(paths.locks, { recursive: true });
    await mkdir(paths.work, { recursive: true });
    const lockFile = join(paths.locks, `${ref.replace(/[/:]/g, "_")}.lock`);
    return withFileLock(
      lockFile,
      async () => {
        const builtMeanwhile = await this.lookup(ref);
        if (builtMeanwhile) return builtMeanwhile;
        return this.build(recipe, ref, join(paths.work, `${recipe.name}-${randomBytes(4).toString("hex")}`), onProgress);
      },
      (pid) => onProgress(`base image ${ref} is being built by process ${pid}; waiting`),
    );
  }

  private async build(recipe: BaseImageRecipe, ref: string, workDir: string, onProgress: (line: string) => void): Promise<ImageRef> {
    const started = Date.now();
    onProgress(`building base image ${ref} (${recipe.describes}) ${recipe.kind === "debian" ? "from Debian packages" : `on the ${recipe.base} image`}`);
    try {
      const built = recipe.kind === "debian" ? await this.debianLayers(recipe, workDir, onProgress) : await this.nodeDistributionLayers(recipe, workDir, onProgress);
      const image = await this.layout.writeImage(
        built.layers,
        {
          Env: [...recipe.env],
          WorkingDir: "/app",
          Cmd: ["/bin/bash"],
          Labels: {
            "org.opencontainers.image.description": recipe.describes,
            "dev.strata.recipe": recipe.name,
            "dev.strata.packages": built.packages,
            ...(built.runs !== undefined && { [RUNS_LABEL]: built.runs }),
          },
        },
        ref,
        built.history,
      );
      // Earlier builds of this recipe (other recipe hash) are superseded; their blobs stay for images built on them.
      for (const old of await this.layout.list()) {
        if (old.ref.startsWith(`${BASE_PREFIX}${recipe.name}:`) && old.ref !== ref) await this.layout.untag(old.ref);
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const layer = built.layers[built.layers.length - 1]!;
      onProgress(`base image ${ref} built in ${seconds} s, layer ${(layer.descriptor.size / 1e6).toFixed(1)} MB${built.packages ? ` (${built.packages})` : ""}`);
      return image;
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  /** One layer: a minbase rootfs with the recipe's packages, from mmdebstrap. */
  private async debianLayers(recipe: DebianRecipe, rootfs: string, onProgress: (line: string) => void): Promise<BuiltLayers> {
    await bootstrapRootfs(recipe, await this.hostApt(), rootfs, onProgress);
    const packages = await packageVersions(rootfs, recipe.packages);
    const runs = recipe.runs && upstreamVersion(await packageVersion(rootfs, recipe.runs.package));
    if (runs !== undefined) onProgress(`the image carries ${recipe.runs!.language} ${runs} (${recipe.runs!.package}, Debian ${recipe.suite})`);
    onProgress(`packing the root filesystem into a layer`);
    const layer = await this.layout.addLayerFromDir(rootfs);
    const createdBy = `mmdebstrap --variant=minbase ${recipe.suite}${recipe.packages.length ? ` --include=${recipe.packages.join(",")}` : ""}`;
    return { layers: [layer], packages, ...(runs !== undefined && { runs }), history: [{ created: new Date().toISOString(), created_by: createdBy }] };
  }

  /** The base recipe's layers (built first if need be) plus one holding Node.js and npm from the npm registry. */
  private async nodeDistributionLayers(recipe: NodeDistributionRecipe, workDir: string, onProgress: (line: string) => void): Promise<BuiltLayers> {
    const baseRef = await this.ensure(recipe.base, onProgress);
    const base = await this.layout.resolve(baseRef.ref ?? baseRef.digest);
    const tree = await nodeDistributionTree(recipe, workDir, onProgress);
    onProgress(`packing Node.js, npm and the CA bundle into a layer`);
    const layer = await this.layout.addLayerFromDir(tree);
    const baseLayers = base.manifest.layers.map((descriptor, i) => ({ descriptor, diffId: base.config.rootfs.diff_ids[i]! }));
    const pins = [recipe.nodePackage, recipe.npmPackage].map((p) => `${p.name}@${p.version}`);
    return {
      layers: [...baseLayers, layer],
      packages: [recipe.nodePackage, recipe.npmPackage].map((p) => `${p.name}=${p.version}`).join(" "),
      history: [...(base.config.history ?? []), { created: new Date().toISOString(), created_by: `npm pack ${pins.join(" ")} (sha512 pinned), unpacked into /usr/local` }],
    };
  }

  private async lookup(ref: string): Promise<ImageRef | null> {
    const found = await this.layout.find(ref);
    return found ? { kind: "oci", digest: found.manifestDigest, path: this.layout.dir, ref } : null;
  }

  private hostApt(): Promise<HostAptConfig> {
    this.apt ??= readHostAptConfig();
    return this.apt;
  }
}
