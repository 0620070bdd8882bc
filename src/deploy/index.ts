/** The deploy layer's public surface: other layers import it from here, never from its files. */
export { Deployer } from "./deployer.js";
export { ImageGc } from "./image-gc.js";
export { failInterruptedDeploys } from "./interrupted-deploys.js";
export { TrafficService } from "./traffic-service.js";
export type { VersionRuntime } from "./version-runtime.js";
