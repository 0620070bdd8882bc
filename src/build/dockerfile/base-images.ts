import { StrataError } from "../../errors.js";
import { canonicalImageName, type ImageCatalog, importedNames, importedRef, type OciLayout, pullImage, RECIPES } from "../../images/index.js";
import type { Buildah } from "./buildah.js";
import type { BaseImageUse } from "./from-lines.js";

/**
 * Makes every image a Dockerfile builds on present in buildah's storage under the name the Dockerfile
 * writes, so that buildah runs with `--pull=never` and never looks at a registry by itself. A name
 * resolves, in order, to:
 *   1. an imported image (`strata images import FILE NAME:TAG`), layout ref `imported/NAME:TAG`;
 *   2. a catalog recipe by name or alias (`ruby:3.1`, `debian:bookworm`), built once from Debian packages;
 *   3. a registry the operator configured (`registries`, e.g. `registry.example.com:5000`): a name on it
 *      is pulled with skopeo into the layout as an imported image, then used like one;
 * anything else fails the build, listing what is available.
 */
export class BaseImages {
  private readonly layout: OciLayout;
  private readonly catalog: ImageCatalog;
  private readonly buildah: Buildah;
  private readonly registries: readonly string[];

  constructor(layout: OciLayout, catalog: ImageCatalog, buildah: Buildah, registries: readonly string[]) {
    this.layout = layout;
    this.catalog = catalog;
    this.buildah = buildah;
    this.registries = registries;
  }

  async provide(uses: readonly BaseImageUse[], log: (line: string) => void): Promise<void> {
    const seen = new Set<string>();
    for (const use of uses) {
      if (seen.has(use.image)) continue;
      seen.add(use.image);
      const ref = await this.layoutRef(use, log);
      const image = await this.layout.resolve(ref);
      log(`${use.instruction} ${use.image}: using ${ref} (${image.manifestDigest.slice(0, 19)})`);
      await this.buildah.provide(this.layout.dir, ref, image.manifest.config.digest, use.image);
    }
  }

  private async layoutRef(use: BaseImageUse, log: (line: string) => void): Promise<string> {
    const canonical = this.canonical(use);
    const imported = importedRef(canonical);
    if (await this.layout.find(imported)) return imported;
    const recipe = this.recipeName(canonical, use);
    if (recipe) {
      const image = await this.catalog.ensure(recipe, log);
      if (!image.ref) throw new StrataError("INTERNAL", `catalog image for ${recipe} has no ref`);
      return image.ref;
    }
    const registry = canonical.includes("/") ? canonical.slice(0, canonical.indexOf("/")) : "";
    if (this.registries.includes(registry)) {
      try {
        return importedRef((await pullImage(this.layout, use.image, log)).name);
      } catch (err) {
        throw await this.unavailable(use, `pulling it from ${registry} failed: ${(err as Error).message}`, err);
      }
    }
    throw await this.unavailable(use, "it is neither an image Strata builds nor an imported one");
  }

  private canonical(use: BaseImageUse): string {
    try {
      return canonicalImageName(use.image);
    } catch (err) {
      throw new StrataError("BUILD_FAILED", `Dockerfile line ${use.line}: ${use.instruction} ${use.image}: ${(err as Error).message}`, { line: use.line }, { cause: err });
    }
  }

  /** The recipe name for `canonical`, undefined when no recipe has it; a user error when a recipe refuses it. */
  private recipeName(canonical: string, use: BaseImageUse): string | undefined {
    // `FROM node` is `node:latest` to Docker; the catalog knows the bare name where it has one.
    const candidates = canonical.endsWith(":latest") ? [canonical, canonical.slice(0, -":latest".length)] : [canonical];
    for (const name of candidates) {
      try {
        return this.catalog.recipeFor(name).name;
      } catch (err) {
        if (err instanceof StrataError && err.code === "NOT_FOUND") continue; // not a recipe name; try the next
        if (err instanceof StrataError) {
          throw new StrataError("BUILD_FAILED", `Dockerfile line ${use.line}: ${use.instruction} ${use.image}: ${err.message}`, { line: use.line }, { cause: err });
        }
        throw err;
      }
    }
    return undefined;
  }

  private async unavailable(use: BaseImageUse, why: string, cause?: unknown): Promise<StrataError> {
    const built = RECIPES.map((r) => r.aliases.join(", ")).join("; ");
    const imported = await importedNames(this.layout);
    const registries = this.registries.length ? `Configured registries: ${this.registries.join(", ")}.` : "No registry is configured.";
    return new StrataError(
      "BUILD_FAILED",
      `Dockerfile line ${use.line}: ${use.instruction} ${use.image}: image not available: ${why}.\n` +
        `Images Strata builds from Debian packages: ${built}.\n` +
        `Imported images: ${imported.length ? imported.join(", ") : "none"}. ${registries}\n` +
        `To use another image, import it: strata images import <oci-archive|docker-archive|rootfs.tar> ${use.image}`,
      { line: use.line, image: use.image, available: RECIPES.flatMap((r) => r.aliases), imported },
      cause === undefined ? undefined : { cause },
    );
  }
}
