import assert from "node:assert/strict";
import { join } from "node:path";
import { readdir, truncate } from "node:fs/promises";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { conformanceImage, httpGet, leftovers, recordingIO, waitForHttp } from "../../../src/sandbox/conformance/index.js";
import type { InstanceSpec } from "../../../src/sandbox/driver.js";
import { MicrovmDriver } from "../../../src/sandbox/microvm/index.js";
import { driverHome } from "../../support/driver-home.js";
import { assertDistinctRestores, SNAPSHOT_PROBE_APP } from "../../support/snapshot-app.js";

// driverHome's clean-up sweeps (stops) every instance this driver started, then closes it.
const { home, network } = await driverHome({
  prefix: "microvm-snap", bridge: "stratamv1", subnet: "10.233.41.0/24",
  makeDriver: () => driver,
});
const driver = new MicrovmDriver({ home, network, snapshots: true });

const spec = (name: string): InstanceSpec => ({
  instanceId: `mvs-${process.pid}-${name}`,
  app: "snap",
  version: "v1",
  port: 8080,
  env: { PORT: "8080" },
  limits: { memoryMb: 64, cpuMillis: 1000, pids: 64 },
  command: SNAPSHOT_PROBE_APP,
});

describe("microvm snapshots", () => {
  it("restores later instances from the first one's snapshot, each with its own address, clock and random state", async (t) => {
    const probe = await driver.probe();
    if (!probe.available) return t.skip(`microvm unavailable: ${probe.reason}`);
    const image = await conformanceImage();
    const prepared = await driver.prepare(image, spec("first"));
    const first = await driver.start(prepared, spec("first"), recordingIO());
    assert.doesNotMatch(first.detail ?? "", /restored/);
    await waitForHttp(first.endpoint, "/", 60_000);
    const snapDir = join(home.root, "cache", "microvm-snapshots");
    const states = async () => (await readdir(snapDir, { recursive: true }).catch(() => [] as string[])).filter((f) => f.endsWith(".vmstate"));
    for (let i = 0; i < 600 && (await states()).length === 0; i++) await sleep(100);
    assert.equal((await states()).length, 1, "a snapshot was taken once the first instance listened");
    await driver.stop(first, 0); // scale to zero: the next starts have only the snapshot

    const ios = [recordingIO(), recordingIO()];
    const t0 = Date.now();
    const a = await driver.start(prepared, spec("a"), ios[0]!);
    const restoreMs = Date.now() - t0;
    const b = await driver.start(prepared, spec("b"), ios[1]!);
    await assertDistinctRestores(a, b);
    t.diagnostic(`restore: start() returned after ${restoreMs} ms`);
    assert.equal((await httpGet(a.endpoint, "/")).body, "ok\n");
    for (const i of [a, b]) await driver.stop(i, 0);

    // A snapshot QEMU cannot load (here: cut short) costs a start its speed, not the start: it boots.
    await truncate(join(snapDir, (await states())[0]!), 4096);
    const ioC = recordingIO();
    const c = await driver.start(prepared, spec("c"), ioC);
    assert.doesNotMatch(c.detail ?? "", /restored/);
    assert.equal((await waitForHttp(c.endpoint, "/", 60_000)).body, "ok\n");
    assert.match(ioC.text(), /restoring .* failed .*booting it instead/, "the failed restore is in the instance's log");
    await driver.stop(c, 0);

    for (const i of [first, a, b, c]) assert.deepEqual(await leftovers(i.id), []);
    await driver.release(prepared);
    assert.deepEqual(await states(), [], "release() removes the version's snapshots");
  });
});
