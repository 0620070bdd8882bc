import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { conformanceImage, runConformance } from "../../../src/sandbox/conformance/index.js";
import { MicrovmDriver } from "../../../src/sandbox/microvm/index.js";
import { guestKernel } from "../../../src/sandbox/guest/index.js";
import { driverHome, runToExit, testSpec } from "../../support/driver-home.js";
import { expectedGuestEnv } from "../../support/guest-env.js";

const { home, network } = await driverHome({
  prefix: "microvm", bridge: "stratamv0", subnet: "10.233.40.0/24",
  makeDriver: ({ home, network }) => new MicrovmDriver({ home, network }),
});

runConformance({
  name: "microvm",
  makeDriver: () => new MicrovmDriver({ home, network }),
  image: () => conformanceImage(),
  hostAddress: network.gateway,
  envDefaults: expectedGuestEnv,
});

describe("microvm driver", () => {
  it("runs the app on the guest's own kernel and names its backend", async (t) => {
    const driver = new MicrovmDriver({ home, network });
    const probe = await driver.probe();
    if (!probe.available) return t.skip(`microvm unavailable: ${probe.reason}`);
    assert.match(probe.details?.backend ?? "", /^qemu-(tcg|kvm) here; firecracker /);
    assert.equal(probe.accelerated, probe.details?.backend?.startsWith("qemu-kvm"), "accelerated only on KVM (functions and Java default to VMs there)");
    const spec = testSpec("mv-kernel", { command: ["/bin/sh", "-c", "cat /proc/version"] });
    const { stdout, log } = await runToExit(driver, await conformanceImage(), spec, 60_000, (instance) => {
      assert.match(instance.detail ?? "", /^qemu-(tcg|kvm)$/, "the instance names its backend (strata instances)");
    });
    const inside = stdout.split("\n")[0] ?? "";
    assert.match(inside, new RegExp(`^Linux version ${(await guestKernel()).release.replace(/[.]/g, "\\.")} `), log);
    assert.notEqual(inside, (await readFile("/proc/version", "utf8")).trim());
  });
});
