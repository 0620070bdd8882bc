/** The metrics layer's public surface: other layers import it from here, never from its files. */
export { PlatformMetrics } from "./platform-metrics.js";
export type { PoolSnapshot } from "./platform-metrics.js";
