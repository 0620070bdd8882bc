import type { StrataHome } from "../home.js";
import type { SandboxDriver } from "./driver.js";
import { IsolateDriver } from "./isolate/index.js";

/** Constructs the drivers this Strata version ships. Each driver's constructor does no I/O. */
export function createDrivers(home: StrataHome): SandboxDriver[] {
  return [new IsolateDriver({ home })];
}
