import type { StrataHome } from "../home.js";
import type { ImageCatalog } from "../images/catalog.js";
import type { OciLayout } from "../images/layout.js";
import type { ImageRef } from "../images/image-ref.js";

/**
 * The contract every builder (static, buildpacks per language, Dockerfile, isolate bundle) implements:
 * `detect()` says whether a source tree is its kind, `build()` turns it into an artifact.
 */

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
  readonly env_variables?: Readonly<Record<string, string>>;
}

export interface BuildContext {
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

export interface BuildResult {
  image: ImageRef;
  /** The runtime built for (app.yaml's `runtime:`, or the detected one, e.g. "python311"). */
  runtime: string;
  /** The language version the image runs ("Python 3.13.5"), saying so when it is not the one asked for. */
  runs?: string;
  cached: { dependencies: boolean };
  /** Sum of the image's layer sizes, bytes. */
  sizeBytes: number;
}

export interface Builder {
  name: string;
  detect(dir: string, spec: AppYamlLike): Promise<boolean>;
  build(ctx: BuildContext): Promise<BuildResult>;
}

/** The layout ref a build's image is stored under. */
export function appImageRef(app: string, version: string): string {
  return `apps/${app}:${version}`;
}
