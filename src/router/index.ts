/** The router layer's public surface: other layers import it from here, never from its files. */
export type { InstanceSource, Lease } from "./backend.js";
export { buildRouteTable } from "./route-table.js";
export { Router } from "./router.js";
export type { FunctionUrlHandler } from "./router.js";
export { staticSiteLoader } from "./site-loader.js";
