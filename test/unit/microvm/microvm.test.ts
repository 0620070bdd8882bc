import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import { conformanceImage, leftovers, recordingIO, runConformance, waitForState } from "../../../src/sandbox/conformance/index.js";
import { MicrovmDriver } from "../../../src/sandbox/microvm/index.js";
import { guestKernel } from "../../../src/sandbox/guest/index.js";

// Under /var/tmp like the runc test: root disks are cached under STRATA_HOME.
const root = await mkdtemp(join("/var/tmp", "strata-microvm-"));
const home = new StrataHome(root);
const network = new HostNetwork(home, { bridge: "stratamv0", subnet: "10.233.40.0/24" });
await network.ensure();

after(async () => {
  const driver = new MicrovmDriver({ home, network });
  try {
    if ((await driver.probe()).available) await driver.sweep(new Set());
  } finally {
    await driver.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
});

runConformance({
  name: "microvm",
  makeDriver: () => new MicrovmDriver({ home, network }),
  image: () => conformanceImage(),
  hostAddress: network.gateway,
});

describe("microvm driver", () => {
  it("runs the app on the guest's own kernel and names its backend", async (t) => {
    const driver = new MicrovmDriver({ home, network });
    const probe = await driver.probe();
    if (!probe.available) return t.skip(`microvm unavailable: ${probe.reason}`);
    assert.match(probe.details?.backend ?? "", /^qemu-(tcg|kvm) here; firecracker /);
    const image = await conformanceImage();
    const spec = {
      instanceId: `mv-kernel-${process.pid}`,
      app: "kernel",
      version: "v1",
      port: 8080,
      env: { PORT: "8080" },
      limits: { memoryMb: 64, cpuMillis: 1000, pids: 64 },
      command: ["/bin/sh", "-c", "cat /proc/version"],
    };
    const io = recordingIO();
    const instance = await driver.start(await driver.prepare(image, spec), spec, io);
    assert.match(instance.detail ?? "", /^qemu-(tcg|kvm)$/, "the instance names its backend (strata instances)");
    try {
      const state = await waitForState(driver, instance, (s) => s.status !== "running", 60_000);
      assert.deepEqual(state, { status: "exited", code: 0, reason: "exited" });
      await driver.stop(instance, 0);
      const inside = io.lines.find((l) => l.stream === "stdout")?.line ?? "";
      assert.match(inside, new RegExp(`^Linux version ${(await guestKernel()).release.replace(/[.]/g, "\\.")} `), io.text());
      assert.notEqual(inside, (await readFile("/proc/version", "utf8")).trim());
    } finally {
      await driver.stop(instance, 0);
    }
    assert.deepEqual(await leftovers(instance.id), []);
  });
});
