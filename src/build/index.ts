/** The build layer's public surface: other layers import it from here, never from its files. */
export type { Builder } from "./builder.js";
export { sweepBuildpackWork } from "./buildpack/index.js";
export { detectAppKind } from "./detect.js";
export { Buildah, buildahPaths } from "./dockerfile/buildah.js";
export { DockerfileBuilder, sweepRunIsolation } from "./dockerfile/index.js";
export { ElixirBuilder } from "./elixir/index.js";
export { FunctionBuilder } from "./function/builder.js";
export { GoBuilder } from "./go/index.js";
export { BUILD_CACHE_LABEL, ImageBuilder, appImageRef } from "./image-builder.js";
export { IsolateBuilder, isolateBundlesDir } from "./isolate/index.js";
export { JavaBuilder } from "./java/index.js";
export { NativeBuilder } from "./native/index.js";
export { NodeBuilder } from "./nodejs/index.js";
export { OsBuilder } from "./os/index.js";
export { PhpBuilder } from "./php/index.js";
export { PythonBuilder } from "./python/index.js";
export { RustBuilder } from "./rust/index.js";
export { StaticBuilder, buildStaticTree } from "./static/index.js";
