import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after } from "node:test";
import { StrataHome } from "../../src/home.js";
import { HostNetwork } from "../../src/net/index.js";
import { leftovers, recordingIO, waitForState } from "../../src/sandbox/conformance/index.js";
import type { ImageRef, Instance, InstanceSpec, SandboxDriver } from "../../src/sandbox/driver.js";

export interface DriverHome {
  readonly home: StrataHome;
  readonly network: HostNetwork;
}

/**
 * A STRATA_HOME for one test file's driver under /var/tmp (as the runc test's: root disks are cached
 * under it) and a HostNetwork of its own on `bridge`/`subnet`, made ready at once unless `ensure` is
 * false (a test that needs it ensures it then). After the file's tests, the instances a driver from
 * `makeDriver` still finds are swept where its probe says it runs here, then the driver is closed, the
 * network torn down and the home removed, even when the sweep fails.
 */
export async function driverHome(opts: {
  readonly prefix: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly ensure?: boolean;
  readonly makeDriver: (home: DriverHome) => SandboxDriver;
}): Promise<DriverHome> {
  const root = await mkdtemp(join("/var/tmp", `strata-${opts.prefix}-`));
  const home = new StrataHome(root);
  const dh: DriverHome = { home, network: new HostNetwork(home, { bridge: opts.bridge, subnet: opts.subnet }) };
  if (opts.ensure !== false) await dh.network.ensure();
  after(async () => {
    const driver = opts.makeDriver(dh);
    try {
      if ((await driver.probe()).available) await driver.sweep(new Set());
    } finally {
      await driver.close?.();
      await dh.network.teardown();
      await rm(root, { recursive: true, force: true });
    }
  });
  return dh;
}

/** A spec for a test instance: `name` and this process's pid as its id, the smallest class, port 8080. */
export function testSpec(name: string, extra: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    instanceId: `${name}-${process.pid}`,
    app: "test",
    version: "v1",
    port: 8080,
    env: { PORT: "8080" },
    limits: { memoryMb: 64, cpuMillis: 1000, pids: 64 },
    ...extra,
  };
}

/**
 * Starts `spec` (a command that ends) on `driver`, waits up to `timeoutMs` for it to exit 0, and stops it
 * (the follower delivers the last lines as it stops), checking it left nothing on the host. `check` sees
 * the instance while it runs. Returns what it wrote on stdout, and its log for assertion messages.
 */
export async function runToExit(
  driver: SandboxDriver,
  image: ImageRef,
  spec: InstanceSpec,
  timeoutMs: number,
  check: (instance: Instance) => void = () => {},
): Promise<{ stdout: string; log: string }> {
  const io = recordingIO();
  const instance = await driver.start(await driver.prepare(image, spec), spec, io);
  try {
    check(instance);
    const state = await waitForState(driver, instance, (s) => s.status !== "running", timeoutMs);
    await driver.stop(instance, 0);
    assert.deepEqual(state, { status: "exited", code: 0, reason: "exited" }, io.text());
  } finally {
    await driver.stop(instance, 0);
  }
  assert.deepEqual(await leftovers(instance.id), []);
  return { stdout: io.lines.filter((l) => l.stream === "stdout").map((l) => l.line).join("\n"), log: io.text() };
}
