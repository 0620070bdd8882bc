import type { StrataHome } from "../home.js";
import type { ImageCatalog, ImageRef, LayoutLock, OciLayout } from "../images/index.js";
import type { Builder, BuildOutput, BuildRequest } from "./builder.js";
import type { AppKind } from "./detect.js";

/**
 * The parts of app.yaml a builder reads. Structural on purpose: the validated spec from src/config
 * (which derives its types from its zod schema) satisfies it without this module importing config.
 */
export interface AppYamlLike {
  readonly runtime?: string;
  /** Shell command line that starts the app (App Engine runs it with `/bin/sh -c`). */
  readonly entrypoint?: string;
  /** Go: the main package's path relative to the module root (`./cmd/web`); the root when absent. */
  readonly main?: string;
  /** C/C++: Debian packages (the -dev ones) installed in the build image before the build. */
  readonly build_packages?: readonly string[];
  readonly env_variables?: Readonly<Record<string, string>>;
}

/** What an image build gets: the request plus Strata's one OCI layout and the base-image catalog. */
export interface ImageBuildContext {
  app: string;
  version: string;
  sourceDir: string;
  spec: AppYamlLike;
  home: StrataHome;
  layout: OciLayout;
  catalog: ImageCatalog;
  log: (line: string) => void;
  /** Strata's config `pip.index-url`: the index pip resolves from when the app vendors no wheels; none: offline. */
  pipIndexUrl?: string;
  /** Strata's config `go.proxy`: the module proxy for apps without vendor/; none: offline. */
  goProxy?: string;
}

export interface ImageBuildResult {
  image: ImageRef;
  /** The runtime built for (app.yaml's `runtime:`, or the detected one, e.g. "python311"). */
  runtime: string;
  /** The language version the image runs ("Python 3.13.5"), saying so when it is not the one asked for. */
  runs?: string;
  cached: { dependencies: boolean };
  /** Sum of the image's layer sizes, bytes. */
  sizeBytes: number;
  /** The one TCP port the image EXPOSEs, if it exposes exactly one (Dockerfile builds). */
  port?: number;
}

/**
 * The image config label naming the dependency caches (`cache/...` refs, space-separated) a build used
 * whose layers the image does not carry (a Maven repository, compiled crates, build-only packages): the
 * image GC keeps a cache as long as a kept app image names it or holds its layer.
 */
export const BUILD_CACHE_LABEL = "dev.strata.build-cache";

/** The layout ref a build's image is stored under. */
export function appImageRef(app: string, version: string): string {
  return `apps/${app}:${version}`;
}

/** One way to build an OCI image (a buildpack per language, the Dockerfile build); ImageBuilder runs it. */
export interface ImageBuild {
  readonly name: string;
  build(ctx: ImageBuildContext): Promise<ImageBuildResult>;
}

/**
 * The Builder for OCI images: it runs an ImageBuild as a LayoutLock writer into Strata's one OCI layout,
 * and the version records the image (and its exposed port) as its artifact.
 */
export class ImageBuilder implements Builder {
  readonly name: string;
  readonly produces = "oci";

  constructor(
    private readonly builder: ImageBuild,
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
    return {
      artifact: { kind: "oci", digest: r.image.digest, path: r.image.path, ref: r.image.ref ?? r.image.digest, ...(r.port !== undefined && { port: r.port }) },
      runtime: r.runtime,
      ...(r.runs !== undefined && { runs: r.runs }),
      sizeBytes: r.sizeBytes,
    };
  }
}
