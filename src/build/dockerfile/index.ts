/** The Dockerfile builder: buildah with a step cache, FROM resolved against the local image catalog, isolated RUN steps. */
export { DockerfileBuilder } from "./builder.js";
export type { DockerfileBuilderOptions, DockerfileBuildResult } from "./builder.js";
export { exposedPort } from "./exposed-port.js";
export type { ImageConfigWithHealthcheck } from "./export.js";
export { baseImageUses } from "./from-lines.js";
export { buildahPaths } from "./buildah.js";
export { sweepRunIsolation } from "./run-isolation.js";
export type { StepRecord } from "./step-log.js";
