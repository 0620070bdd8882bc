/** The api layer's public surface: other layers import it from here, never from its files. */
export { ensureToken } from "./auth.js";
export { functionRoutes } from "./function-routes.js";
export type { FunctionOut } from "./function-routes.js";
export { imageRoutes } from "./image-routes.js";
export type { ImageOut, PruneProgress } from "./image-routes.js";
export { coreRoutes } from "./routes.js";
export { instanceRoutes, metricsRoute } from "./runtime-routes.js";
export { AppName } from "./schemas.js";
export type { AppOut, DeployProgress, EventOut, ExecProgress, InstanceOut, ScalingOut, TrafficOut, VersionOut } from "./schemas.js";
export { ApiServer } from "./server.js";
