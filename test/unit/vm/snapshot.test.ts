import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { conformanceImage, httpGet, leftovers, recordingIO, waitForHttp } from "../../../src/sandbox/conformance/index.js";
import type { InstanceSpec } from "../../../src/sandbox/driver.js";
import { VmDriver } from "../../../src/sandbox/vm/index.js";
import { driverHome } from "../../support/driver-home.js";
import { assertDistinctRestores, assertHostsNameIt, SNAPSHOT_PROBE_APP, snapshotStates, waitForSnapshot } from "../../support/snapshot-app.js";

// driverHome's clean-up sweeps (stops) every instance this driver started, then closes it.
const { home, network } = await driverHome({
  prefix: "vm-snap", bridge: "stratavms1", subnet: "10.233.47.0/24",
  makeDriver: () => driver,
});
const driver = new VmDriver({ home, network, snapshots: true });

const spec = (name: string, extra: Partial<InstanceSpec> = {}): InstanceSpec => ({
  instanceId: `vms-${process.pid}-${name}`,
  app: "snap",
  version: "v1",
  port: 8080,
  env: { PORT: "8080" },
  limits: { memoryMb: 64, cpuMillis: 1000, pids: 64 },
  command: SNAPSHOT_PROBE_APP,
  ...extra,
});

describe("vm snapshots", () => {
  it("restores later VMs from the first one's snapshot (q35, QMP migrate), each with its own address, clock and random state", async (t) => {
    const probe = await driver.probe();
    if (!probe.available) return t.skip(`vm unavailable: ${probe.reason}`);
    const image = await conformanceImage();
    const prepared = await driver.prepare(image, spec("first"));
    const first = await driver.start(prepared, spec("first"), recordingIO());
    assert.doesNotMatch(first.detail ?? "", /restored/);
    await waitForHttp(first.endpoint, "/", 90_000);
    const snapDir = join(home.root, "cache", "vm-snapshots");
    await waitForSnapshot(snapDir, 60_000);
    await driver.stop(first, 0); // scale to zero: the next starts have only the snapshot

    const t0 = Date.now();
    const a = await driver.start(prepared, spec("a"), recordingIO());
    const restoreMs = Date.now() - t0;
    const b = await driver.start(prepared, spec("b"), recordingIO());
    await assertDistinctRestores(a, b);
    for (const i of [a, b]) await assertHostsNameIt(i);
    t.diagnostic(`restore: start() returned after ${restoreMs} ms`);
    assert.equal((await httpGet(a.endpoint, "/")).body, "ok\n");
    // The restored guest still hears the ACPI power button: a graceful stop ends it through the app.
    const t1 = Date.now();
    await driver.stop(a, 30_000);
    assert.ok(Date.now() - t1 < 30_000, "the restored VM powered down before its grace period ran out");
    await driver.stop(b, 0);

    for (const i of [first, a, b]) assert.deepEqual(await leftovers(i.id), []);
    await driver.release(prepared);
    assert.deepEqual(await snapshotStates(snapDir), [], "release() removes the version's snapshots");
  });
});
