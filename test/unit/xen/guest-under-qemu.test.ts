import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import type { InstanceSpec } from "../../../src/sandbox/driver.js";
import { conformanceImage, leftovers, recordingIO, waitForState } from "../../../src/sandbox/conformance/index.js";
import { VmDriver } from "../../../src/sandbox/vm/index.js";
import { XEN_GUEST_MODULES, XenDriver } from "../../../src/sandbox/xen/index.js";

// What a Xen dom0 would boot, booted here under QEMU: the xen driver's prepare() (no dom0 needed) gives
// the kernel, initramfs and root disk; the vm driver boots that very initramfs.
const root = await mkdtemp(join("/var/tmp", "strata-xen-qemu-"));
const home = new StrataHome(root);
const network = new HostNetwork(home, { bridge: "strataxn2", subnet: "10.233.50.0/24" });

after(async () => {
  const driver = new VmDriver({ home, network, guestModules: XEN_GUEST_MODULES });
  try {
    if ((await driver.probe()).available) await driver.sweep(new Set());
  } finally {
    await driver.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
});

describe("the Xen guest under QEMU", () => {
  it("boots the xen driver's kernel, initramfs and root disk, and runs the app", async (t) => {
    const vm = new VmDriver({ home, network, guestModules: XEN_GUEST_MODULES });
    const probe = await vm.probe();
    if (!probe.available) return t.skip(`vm unavailable: ${probe.reason}`);
    await network.ensure();
    const image = await conformanceImage();
    const spec: InstanceSpec = {
      instanceId: `xq-${process.pid}`, app: "xentest", version: "v1", port: 8080, env: { PORT: "8080" },
      limits: { memoryMb: 64, cpuMillis: 1000, pids: 64 },
      command: ["/bin/sh", "-c", "echo booted on $(uname -r); echo modules $(cut -d' ' -f1 /proc/modules | sort | tr '\\n' ' ')"],
    };
    const xen = await new XenDriver({ home, network }).prepare(image, spec);
    const prepared = await vm.prepare(image, spec);
    assert.equal(prepared.data.assets.initramfs, xen.data.assets.initramfs, "the xen driver's initramfs");
    assert.equal(prepared.data.assets.kernel.vmlinux, xen.data.assets.kernel.vmlinux);
    assert.equal(prepared.data.rootDisk, xen.data.rootDisk);
    const io = recordingIO();
    const instance = await vm.start(prepared, spec, io);
    try {
      const state = await waitForState(vm, instance, (st) => st.status !== "running", 60_000);
      assert.deepEqual(state, { status: "exited", code: 0, reason: "exited" }, io.text());
      await vm.stop(instance, 0);
      assert.match(io.text(), /booted on \d+\.\d+/);
      // The Xen frontends are in the initramfs and refused to load here (ENODEV), the virtio drivers did.
      const initramfs = await readFile(xen.data.assets.initramfs);
      for (const m of ["xen-blkfront.ko", "xen-netfront.ko"]) assert.ok(initramfs.includes(m), `${m} in the initramfs`);
      const loaded = io.lines.find((l) => l.line.startsWith("modules "))?.line.split(" ") ?? [];
      assert.ok(loaded.includes("virtio_blk") && !loaded.includes("xen_blkfront"), io.text());
    } finally {
      await vm.stop(instance, 0);
    }
    assert.deepEqual(await leftovers(instance.id), []);
  });
});
