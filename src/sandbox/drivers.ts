import type { StrataHome } from "../home.js";
import type { SandboxDriver } from "./driver.js";

/** Constructs the drivers this Strata version ships. Each driver's constructor does no I/O. */
export function createDrivers(_home: StrataHome): SandboxDriver[] {
  return [];
}
