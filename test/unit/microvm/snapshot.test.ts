import assert from "node:assert/strict";
import { join } from "node:path";
import { readdir, rm, truncate } from "node:fs/promises";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { conformanceImage, httpGet, leftovers, recordingIO, waitForHttp } from "../../../src/sandbox/conformance/index.js";
import type { InstanceSpec } from "../../../src/sandbox/driver.js";
import { hugetlbBytes, hugetlbPool } from "../../../src/sandbox/guest/index.js";
import { exec } from "../../../src/system/exec.js";
import { MicrovmDriver } from "../../../src/sandbox/microvm/index.js";
import { driverHome } from "../../support/driver-home.js";
import { assertDistinctRestores, SNAPSHOT_PROBE_APP } from "../../support/snapshot-app.js";

// driverHome's clean-up sweeps (stops) every instance this driver started, then closes it.
const { home, network } = await driverHome({
  prefix: "microvm-snap", bridge: "stratamv1", subnet: "10.233.41.0/24",
  makeDriver: () => driver,
});
const driver = new MicrovmDriver({ home, network, snapshots: true });
/** The same home and snapshot cache, with guest RAM always anonymous (the swept runtime dir is the same too). */
const anonymous = new MicrovmDriver({ home, network, snapshots: true, hugePages: false });

const spec = (name: string, version = "v1"): InstanceSpec => ({
  instanceId: `mvs-${process.pid}-${name}`,
  app: "snap",
  version,
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

  it("puts guest RAM on the huge page pool, counts it as the instance's memory, and restores snapshots across both kinds of RAM", async (t) => {
    const probe = await driver.probe();
    if (!probe.available) return t.skip(`microvm unavailable: ${probe.reason}`);
    const pool = await hugetlbPool();
    if (!pool || pool.freeBytes < 512 * 1024 ** 2) return t.skip("no hugetlbfs pool with 512 MiB free (scripts/setup-host.sh reserves one)");
    assert.match(String(probe.details?.["guest RAM"]), /huge pages from/);
    const image = await conformanceImage();
    const pidOf = (i: { handle: { data?: unknown } }) => (i.handle.data as { pid: number }).pid;
    // Each direction: the version's first instance (snapshotted) on one kind of RAM, its restore on the other.
    for (const [from, to, version] of [[anonymous, driver, "v2"], [driver, anonymous, "v3"]] as const) {
      const prepared = await from.prepare(image, spec(`${version}-first`, version));
      const first = await from.start(prepared, spec(`${version}-first`, version), recordingIO());
      await waitForHttp(first.endpoint, "/", 60_000);
      assert.equal((await hugetlbBytes(pidOf(first))) > 0, from === driver, "only the default driver's guest maps huge pages");
      assert.equal((await from.snapshotted(first))?.kind, "taken", "the first instance was snapshotted");
      await from.stop(first, 0);

      const restored = await to.start(prepared, spec(`${version}-restored`, version), recordingIO());
      assert.match(restored.detail ?? "", /restored/);
      assert.equal((await httpGet(restored.endpoint, "/")).body, "ok\n");
      const huge = await hugetlbBytes(pidOf(restored));
      if (to === driver) {
        assert.ok(huge >= 32 * 1024 ** 2, `the restored guest's RAM is on huge pages (${huge} bytes)`);
        const state = await to.inspect(restored);
        assert.ok(state.status === "running" && (state.memoryBytes ?? 0) >= huge, "inspect counts the huge pages as the instance's memory");
      } else {
        assert.equal(huge, 0);
      }
      await to.stop(restored, 0);
      for (const i of [first, restored]) assert.deepEqual(await leftovers(i.id), []);
      await from.release(prepared);
    }

    // A pool without room for the guest: its RAM is anonymous memory, and it runs all the same.
    const fill = join(pool.mount, `strata-test-fill-${process.pid}`);
    const free = (await hugetlbPool())!.freeBytes;
    await exec(["fallocate", "-l", String(free - 64 * 1024 ** 2), fill]);
    try {
      const prepared = await anonymous.prepare(image, spec("nofit", "v4"));
      const booted = await driver.start(prepared, spec("nofit", "v4"), recordingIO());
      assert.equal((await waitForHttp(booted.endpoint, "/", 60_000)).body, "ok\n");
      assert.equal(await hugetlbBytes(pidOf(booted)), 0, "64 MiB free in the pool: the 160 MiB guest's RAM is anonymous");
      await driver.stop(booted, 0);
      await driver.release(prepared);
    } finally {
      await rm(fill, { force: true });
    }
  });
});
