import { StrataError } from "../errors.js";
import type { ExecIO, SandboxDriver } from "../sandbox/index.js";
import type { VersionRecord } from "../store/index.js";
import type { VersionPool } from "./pool.js";

/** Where `strata exec` runs a command: an instance, and the driver's exec bound to it. */
export interface ExecTarget {
  instanceId: string;
  run(argv: readonly string[], io: ExecIO): Promise<number>;
}

/**
 * The running instance of `app` that `strata exec` goes into (the one named, else the first ready one).
 * Throws before anything runs when there is none or its driver cannot exec, so the API answers with an
 * error rather than a stream.
 */
export function findExecTarget(pools: readonly VersionPool[], app: string, instanceId: string | undefined, driverOf: (v: VersionRecord) => SandboxDriver): ExecTarget {
  const slots = pools.flatMap((pool) => [...pool.slots.values()].map((slot) => ({ pool, slot })));
  const found = instanceId === undefined ? slots.find(({ slot }) => slot.state === "ready") : slots.find(({ slot }) => slot.id === instanceId);
  if (!found) {
    throw new StrataError(
      "NOT_FOUND",
      instanceId === undefined
        ? `${app} has no running instance; send it a request (or set min_instances) and try again`
        : `${app} has no instance ${instanceId} (see: strata instances ${app})`,
    );
  }
  const { pool, slot } = found;
  const instance = slot.instance;
  if (!instance || slot.state === "starting") throw new StrataError("CONFLICT", `instance ${slot.id} is still starting; try again when it is ready`);
  const driver = driverOf(pool.version);
  const exec = driver.capabilities.exec ? driver.exec?.bind(driver) : undefined;
  if (!exec) throw new StrataError("SANDBOX_UNAVAILABLE", `the ${driver.name} sandbox of ${app} cannot run commands in its instances (strata exec works with sandboxes whose driver can: see strata doctor)`);
  return { instanceId: slot.id, run: (argv, io) => exec(instance, argv, io) };
}
