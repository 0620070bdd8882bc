import type { AppYaml } from "../config/index.js";
import type { StrataHome } from "../home.js";
import type { Artifact } from "../store/index.js";
import type { AppKind } from "./detect.js";

/**
 * The one builder contract: the deploy path picks the builder whose `kinds` hold the kind
 * `detectAppKind()` (build/detect.ts, the only detection) found, and `build()` turns the extracted upload
 * into a stored artifact. Static sites, isolate bundles and OCI images (ImageBuilder) all implement it.
 */
export interface BuildRequest {
  app: string;
  version: string;
  kind: AppKind;
  sourceDir: string;
  spec: AppYaml | undefined;
  home: StrataHome;
  log: (line: string) => void;
}

export interface BuildOutput {
  /** For an OCI image, `artifact.port` is the one port it EXPOSEs, when it does. */
  artifact: Artifact;
  /** The runtime id recorded on the version (app.yaml's, or the detected one). */
  runtime: string;
  /** The language version the artifact runs, when the builder picked one ("Go 1.24.4"). */
  runs?: string;
  sizeBytes: number;
}

export interface Builder {
  readonly name: string;
  readonly kinds: readonly AppKind[];
  /** The artifact kind it stores; the deploy path checks it against the chosen driver's imageKinds. */
  readonly produces: Artifact["kind"];
  build(req: BuildRequest): Promise<BuildOutput>;
}
