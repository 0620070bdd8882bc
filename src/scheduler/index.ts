/** The scheduler layer's public surface: other layers import it from here, never from its files. */
export { networkReadiness } from "./readiness.js";
export { Scheduler } from "./scheduler.js";
