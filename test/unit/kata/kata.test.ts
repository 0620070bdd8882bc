import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { OciLayout } from "../../../src/images/layout.js";
import { conformanceImage, runConformance } from "../../../src/sandbox/conformance/index.js";
import type { ImageRef } from "../../../src/sandbox/driver.js";
import { guestKernel } from "../../../src/sandbox/guest/index.js";
import { KataDriver } from "../../../src/sandbox/kata/index.js";
import { driverHome, runToExit, testSpec } from "../../support/driver-home.js";
import { expectedGuestEnv } from "../../support/guest-env.js";

const { home, network } = await driverHome({
  prefix: "kata", bridge: "stratakt0", subnet: "10.233.52.0/24",
  makeDriver: ({ home, network }) => new KataDriver({ home, network }),
});

runConformance({
  name: "kata",
  makeDriver: () => new KataDriver({ home, network }),
  image: () => conformanceImage(),
  hostAddress: network.gateway,
  envDefaults: expectedGuestEnv,
});

/** The conformance image with `User: app` (uid 1000 in its /etc/passwd), as a Dockerfile's USER gives. */
async function userImage(): Promise<ImageRef> {
  const base = await conformanceImage();
  const layout = new OciLayout(base.path);
  const resolved = await layout.resolve(base.ref ?? base.digest);
  const layers = resolved.manifest.layers.map((descriptor, i) => ({ descriptor, diffId: resolved.config.rootfs.diff_ids[i]! }));
  const ref = `conformance/busybox-user:${base.digest.slice(7, 23)}`;
  return layout.writeImage(layers, { ...resolved.config.config, User: "app" }, ref);
}

/** Runs `script` as the instance's command and returns its stdout once it exits 0. */
async function runOnce(driver: KataDriver, image: ImageRef, name: string, script: string): Promise<string> {
  const spec = testSpec(`kt-${name}`, { version: name, command: ["/bin/sh", "-c", script] });
  const { stdout } = await runToExit(driver, image, spec, 90_000, (instance) => {
    assert.match(instance.detail ?? "", /^qemu-(tcg|kvm) agent$/, "the instance names how it runs (strata instances)");
  });
  return stdout;
}

describe("kata driver (agent in a QEMU microvm guest)", () => {
  const driver = new KataDriver({ home, network });

  it("runs the container on the guest's kernel, in namespaces of its own", async (t) => {
    const probe = await driver.probe();
    if (!probe.available) return t.skip(`kata unavailable: ${probe.reason}`);
    assert.match(probe.details?.uses ?? "", /^(Strata's agent in a QEMU microvm guest|kata-runtime) \(/, "doctor says which way this host runs kata");
    const out = await runOnce(driver, await conformanceImage(), "ns", "cat /proc/version; echo pid=$$; hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'");
    const [version, pid, hostname, cmdline, procs] = out.split("\n");
    assert.match(version ?? "", new RegExp(`^Linux version ${(await guestKernel()).release.replace(/[.]/g, "\\.")} `), out);
    assert.notEqual(version, (await readFile("/proc/version", "utf8")).trim());
    assert.equal(pid, "pid=1", "the container's process is PID 1 of its own pid namespace");
    assert.equal(hostname, `kt-ns-${process.pid}`, "its own uts namespace, named by the spec's hostname");
    assert.match(cmdline ?? "", /^\/bin\/sh -c cat \/proc\/version/, "PID 1 is the container's process, not the guest init");
    assert.ok(Number(procs) <= 3, `only the container's processes are visible in its /proc (${procs})`);
  });

  it("runs the process as the image's user, in its working dir, with its env", async (t) => {
    if (!(await driver.probe()).available) return t.skip("kata unavailable");
    const out = await runOnce(driver, await userImage(), "user", "id -u; id -g; pwd; echo $IMAGE_ONLY; touch /etc/x 2>/dev/null && echo rw || echo ro");
    assert.deepEqual(out.split("\n"), ["1000", "1000", "/app", "from-image", "ro"]);
  });
});
