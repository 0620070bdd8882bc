import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { conformanceImage } from "../../../src/sandbox/conformance/index.js";
import { VmDriver } from "../../../src/sandbox/vm/index.js";
import { XenDriver } from "../../../src/sandbox/xen/index.js";
import { driverHome, runToExit, testSpec } from "../../support/driver-home.js";

// What a Xen dom0 would boot, booted here under QEMU: the xen driver's prepare() (no dom0 needed) gives
// the kernel, initramfs and root disk; the vm driver boots that very initramfs.
const { home, network } = await driverHome({
  prefix: "xen-qemu", bridge: "strataxn2", subnet: "10.233.50.0/24", ensure: false,
  makeDriver: ({ home, network }) => new VmDriver({ home, network }),
});

describe("the Xen guest under QEMU", () => {
  it("boots the xen driver's kernel, initramfs and root disk, and runs the app", async (t) => {
    const vm = new VmDriver({ home, network });
    const probe = await vm.probe();
    if (!probe.available) return t.skip(`vm unavailable: ${probe.reason}`);
    await network.ensure();
    const image = await conformanceImage();
    const spec = testSpec("xq", {
      command: ["/bin/sh", "-c", "echo booted on $(uname -r); echo built in $(cd /sys/module && ls -d virtio_blk xen_blkfront xen_netfront 2>&1 | tr '\\n' ' ')"],
    });
    const xen = await new XenDriver({ home, network }).prepare(image, spec);
    const prepared = await vm.prepare(image, spec);
    assert.equal(prepared.data.assets.initramfs, xen.data.assets.initramfs, "the xen driver's initramfs");
    assert.equal(prepared.data.assets.kernel.vmlinux, xen.data.assets.kernel.vmlinux);
    assert.equal(prepared.data.rootDisk, xen.data.rootDisk);
    const { stdout, log } = await runToExit(vm, image, spec, 60_000);
    assert.match(stdout, /booted on \d+\.\d+/);
    // One kernel for both machines: the Xen frontends are built in beside the virtio drivers QEMU's devices use.
    assert.match(stdout, /^built in virtio_blk xen_blkfront xen_netfront$/m, log);
  });
});
