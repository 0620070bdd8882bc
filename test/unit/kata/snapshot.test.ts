import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { conformanceImage, httpGet, leftovers, recordingIO, waitForHttp } from "../../../src/sandbox/conformance/index.js";
import type { InstanceSpec } from "../../../src/sandbox/driver.js";
import { KataDriver } from "../../../src/sandbox/kata/index.js";
import { driverHome } from "../../support/driver-home.js";
import { assertDistinctRestores, assertHostsNameIt, SNAPSHOT_PROBE_APP, snapshotStates, waitForSnapshot } from "../../support/snapshot-app.js";

// driverHome's clean-up sweeps (stops) every instance this driver started, then closes it.
const { home, network } = await driverHome({
  prefix: "kata-snap", bridge: "stratakts1", subnet: "10.233.48.0/24",
  makeDriver: () => driver,
});
const driver = new KataDriver({ home, network, snapshots: true });

const spec = (name: string): InstanceSpec => ({
  instanceId: `kts-${process.pid}-${name}`,
  app: "snap",
  version: "v1",
  port: 8080,
  env: { PORT: "8080" },
  limits: { memoryMb: 64, cpuMillis: 1000, pids: 64 },
  command: SNAPSHOT_PROBE_APP,
});

describe("kata snapshots (Strata's agent)", () => {
  it("scales to zero and restores the container from the snapshot, with its own address, hostname, clock and random state", async (t) => {
    const probe = await driver.probe();
    if (!probe.available) return t.skip(`kata unavailable: ${probe.reason}`);
    if (!/^Strata's agent/.test(probe.details?.uses ?? "")) return t.skip("this host runs kata-runtime, which has no snapshots here");
    const image = await conformanceImage();
    const prepared = await driver.prepare(image, spec("first"));
    const first = await driver.start(prepared, spec("first"), recordingIO());
    assert.match(first.detail ?? "", /^qemu-(tcg|kvm) agent$/);
    await waitForHttp(first.endpoint, "/", 90_000);
    await assertHostsNameIt(first);
    const snapDir = join(home.root, "cache", "microvm-snapshots");
    await waitForSnapshot(snapDir, 60_000);
    await driver.stop(first, 0); // scale to zero: the next starts have only the snapshot

    const t0 = Date.now();
    const a = await driver.start(prepared, spec("a"), recordingIO());
    const restoreMs = Date.now() - t0;
    const b = await driver.start(prepared, spec("b"), recordingIO());
    assert.match(a.detail ?? "", /^qemu-(tcg|kvm) agent, restored$/);
    await assertDistinctRestores(a, b);
    for (const i of [a, b]) await assertHostsNameIt(i);
    t.diagnostic(`restore: start() returned after ${restoreMs} ms`);
    assert.equal((await httpGet(a.endpoint, "/")).body, "ok\n");
    for (const i of [a, b]) await driver.stop(i, 0);

    for (const i of [first, a, b]) assert.deepEqual(await leftovers(i.id), []);
    await driver.release(prepared);
    assert.deepEqual(await snapshotStates(snapDir), [], "release() removes the version's snapshots");
  });
});
