/** Plumbing shared by the language buildpacks: build steps in the image's userland, layer caching, start commands. */
export { BuildStep, UNPRIVILEGED_BUILD_USER, type StepCommand, type StepMount, type StepNetwork, type StepOptions, type StepUser } from "./step.js";
export { runStepLayer, layersOf, cachedLayer, storeCachedLayer, dependencyCacheRef, type StepLayerOptions } from "./layers.js";
export { startCommand, procfileWeb, withExec, type StartCommand } from "./entrypoint.js";
export { sourceLayer, writeAppImage, APP_USER, type DescribedLayer } from "./app-image.js";
export { buildpackWorkRoot, sweepBuildpackWork } from "./work-dirs.js";
