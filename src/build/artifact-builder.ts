import type { AppYaml } from "../config/index.js";
import type { StrataHome } from "../home.js";
import type { Artifact } from "../store/types.js";
import type { AppKind } from "./detect.js";

/** One build: an extracted upload in, a stored artifact out. */
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
  artifact: Artifact;
  /** The runtime id recorded on the version (app.yaml's, or the detected one). */
  runtime: string;
  /** The language version the artifact runs, when the builder picked one ("Go 1.24.4"). */
  runs?: string;
  sizeBytes: number;
}

export interface ArtifactBuilder {
  readonly name: string;
  readonly kinds: readonly AppKind[];
  build(req: BuildRequest): Promise<BuildOutput>;
}
