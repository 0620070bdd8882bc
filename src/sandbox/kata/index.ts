/** Kata Containers' design on Strata's microVM pieces (an OCI container inside a sandbox VM), or the real kata-runtime where the host has it. */
export { KataDriver } from "./driver.js";
export type { KataDriverOptions } from "./driver.js";
export { agentRunFor } from "./agent-run.js";
export type { AgentRun, AgentStorage, OciRuntimeSpec } from "./agent-run.js";
export { chooseKataMode, withMode } from "./probe.js";
export type { KataMode } from "./probe.js";
