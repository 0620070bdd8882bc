import type { ImageCatalog } from "../images/catalog.js";
import type { OciLayout } from "../images/layout.js";
import type { LayoutLock } from "../images/layout-lock.js";
import type { ArtifactBuilder, BuildOutput, BuildRequest } from "./artifact-builder.js";
import type { Builder } from "./builder.js";
import type { AppKind } from "./detect.js";

/**
 * Puts an image builder (buildpacks, Dockerfile) on the deploy path: it builds into Strata's one OCI
 * layout, and the version records the image as its artifact.
 */
export class ImageBuilder implements ArtifactBuilder {
  readonly name: string;

  constructor(
    private readonly builder: Builder,
    readonly kinds: readonly AppKind[],
    /** `lock`: builds write as LayoutLock writers, so image GC never runs while a build's blobs are untagged. */
    private readonly images: { layout: OciLayout; catalog: ImageCatalog; lock: LayoutLock; pipIndexUrl?: string; goProxy?: string },
  ) {
    this.name = builder.name;
  }

  async build(req: BuildRequest): Promise<BuildOutput> {
    const build = () => this.builder.build({
      app: req.app,
      version: req.version,
      sourceDir: req.sourceDir,
      spec: req.spec ?? {},
      home: req.home,
      layout: this.images.layout,
      catalog: this.images.catalog,
      log: req.log,
      ...(this.images.pipIndexUrl !== undefined && { pipIndexUrl: this.images.pipIndexUrl }),
      ...(this.images.goProxy !== undefined && { goProxy: this.images.goProxy }),
    });
    const r = await this.images.lock.write(build, (pid) => req.log(`waiting for the image GC (process ${pid}) to finish`));
    const port = "port" in r && typeof r.port === "number" ? r.port : undefined;
    return {
      artifact: { kind: "oci", digest: r.image.digest, path: r.image.path, ref: r.image.ref ?? r.image.digest, ...(port !== undefined && { port }) },
      runtime: r.runtime,
      ...(r.runs !== undefined && { runs: r.runs }),
      sizeBytes: r.sizeBytes,
    };
  }
}
