import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { conformanceImage, leftovers, recordingIO, waitForHttp } from "../../../src/sandbox/conformance/index.js";
import type { Instance } from "../../../src/sandbox/driver.js";
import { GUEST_OVERHEAD_MB } from "../../../src/sandbox/guest/index.js";
import { DATA_MOUNT, machineFor, VmDriver, vmQemuArgv, type VmLaunch } from "../../../src/sandbox/vm/index.js";
import { driverHome, runToExit, testSpec as spec } from "../../support/driver-home.js";

const { home, network } = await driverHome({
  prefix: "vm", bridge: "stratavm1", subnet: "10.233.45.0/24", ensure: false,
  makeDriver: ({ home, network }) => new VmDriver({ home, network }),
});

/** The conformance app (it traps TERM) on a new vm driver, once it answers HTTP; undefined where vm does not run. */
async function serving(t: TestContext, name: string): Promise<{ driver: VmDriver; instance: Instance; io: ReturnType<typeof recordingIO> } | undefined> {
  const driver = new VmDriver({ home, network });
  const probe = await driver.probe();
  if (!probe.available) return void t.skip(`vm unavailable: ${probe.reason}`);
  await network.ensure();
  const s = spec(name);
  const io = recordingIO();
  const instance = await driver.start(await driver.prepare(await conformanceImage(), s), s, io);
  await waitForHttp(instance.endpoint, "/", 60_000).catch(async (err: unknown) => {
    await driver.stop(instance, 0);
    throw err;
  });
  return { driver, instance, io };
}

describe("vm machine", () => {
  it("gives the guest the class's memory plus the kernel's share, unless app.yaml's vm: says otherwise", () => {
    assert.deepEqual(machineFor(spec("m")), { machine: "q35", vcpus: 1, memoryMb: 64 + GUEST_OVERHEAD_MB, appMemoryMb: 64 });
    assert.deepEqual(machineFor(spec("m", { vm: { vcpus: 2, memoryMb: 1024, machine: "pc", dataDiskMb: 512 } })), { machine: "pc", vcpus: 2, memoryMb: 1024, appMemoryMb: 64, dataDiskMb: 512 });
    // RAM smaller than the class's memory plus the overhead: the app gets what the kernel leaves it.
    assert.equal(machineFor(spec("m", { vm: { memoryMb: 128 } })).appMemoryMb, 128 - GUEST_OVERHEAD_MB);
  });

  it("builds a PC with ACPI and virtio-pci devices at fixed slots, the image disk before the run disk", () => {
    const vm: VmLaunch = {
      id: "i1", dir: "/run/x", kernel: "/k", initramfs: "/i", cmdline: "c", rootDisk: "/root.ext4", runDisk: "/run/x/run.img",
      machine: { machine: "pc", vcpus: 2, memoryMb: 512, appMemoryMb: 384 }, netnsPath: "/run/netns/n", tap: "tap0", mac: "02:53:0a:00:00:02",
    };
    const argv = vmQemuArgv("/usr/bin/qemu-system-x86_64", "tcg", vm);
    const after = (flag: string) => argv.filter((_, i) => argv[i - 1] === flag);
    assert.deepEqual(after("-M"), ["pc,vmport=off,smm=off"]);
    assert.deepEqual(after("-accel"), ["tcg"]);
    assert.deepEqual(after("-smp"), ["2"]);
    assert.deepEqual(after("-m"), ["512M"]);
    assert.ok(!after("-M")[0]!.includes("acpi=off"), "ACPI stays on: system_powerdown is the power button");
    const devices = after("-device");
    assert.deepEqual(devices.filter((d) => d.startsWith("virtio-blk-pci")), ["virtio-blk-pci,drive=root,addr=4", "virtio-blk-pci,drive=run,addr=5"]);
    assert.ok(devices.includes("virtio-net-pci,netdev=net0,mac=02:53:0a:00:00:02,romfile=,addr=3"));
    assert.ok(devices.includes("virtio-serial-pci,addr=6"));
    assert.ok(!argv.some((a) => a.includes("virtio-mmio") || a.includes("-device,") || a === "microvm"));
    const withData = vmQemuArgv("/usr/bin/qemu-system-x86_64", "tcg", { ...vm, dataDisk: "/run/x/data.img" });
    assert.ok(withData.includes("id=data,file=/run/x/data.img,format=raw,if=none") && withData.includes("virtio-blk-pci,drive=data,addr=7"), "the data disk after the run disk: vdc");
    assert.ok(!argv.includes("-incoming"), "a boot reads no snapshot");
    const restore = vmQemuArgv("/usr/bin/qemu-system-x86_64", "tcg", { ...vm, incoming: "/snap.vmstate" });
    assert.deepEqual(restore.slice(-3), ["-S", "-incoming", "fd:3"], "a restore reads the snapshot from fd 3 and waits paused for cont");
  });
});

describe("vm driver", () => {
  it("boots a PC: the app sees PCI virtio devices, ACPI, the vCPUs, RAM and scratch disk app.yaml asked for", async (t) => {
    const driver = new VmDriver({ home, network });
    const probe = await driver.probe();
    if (!probe.available) return t.skip(`vm unavailable: ${probe.reason}`);
    assert.match(probe.details?.backend ?? "", /^qemu-(tcg here \(kvm where \/dev\/kvm runs guests\)|kvm here)$/);
    await network.ensure();
    const image = await conformanceImage();
    const s = spec("vm-pc", {
      vm: { vcpus: 2, memoryMb: 320, machine: "pc", dataDiskMb: 64 },
      command: ["/bin/sh", "-c", [
        "echo vendors $(cat /sys/bus/pci/devices/*/vendor | sort -u | tr '\\n' ' ')", "echo cpus $(grep -c ^processor /proc/cpuinfo)",
        "grep MemTotal /proc/meminfo", "ls /sys/firmware/acpi/tables/DSDT",
        `echo written-by-$(id -u) > ${DATA_MOUNT}/probe && echo data $(cat ${DATA_MOUNT}/probe) $(df -k ${DATA_MOUNT} | tail -1 | awk '{print $2}')`,
      ].join("; ")],
    });
    const { stdout: out, log } = await runToExit(driver, image, s, 60_000, (instance) => {
      assert.match(instance.detail ?? "", /^qemu-(tcg|kvm)$/, "the instance names its accelerator (strata instances)");
    });
    assert.match(out, /^vendors .*0x1af4/m, "virtio devices (Red Hat's PCI vendor id) on the PCI bus");
    assert.match(out, /^vendors .*0x8086/m, "Intel's i440FX chipset");
    assert.match(out, /^cpus 2$/m);
    const kb = Number(/^MemTotal:\s+(\d+) kB/m.exec(out)?.[1]);
    assert.ok(kb > 200 * 1024 && kb <= 320 * 1024, `guest RAM ${kb} kB is about the 320 MiB asked for`);
    assert.match(out, /^\/sys\/firmware\/acpi\/tables\/DSDT$/m, "the guest has ACPI tables");
    const data = /^data written-by-(\d+) (\d+)$/m.exec(out);
    assert.ok(data, `the app wrote to its scratch disk:\n${log}`);
    assert.ok(Number(data[2]) > 40_000 && Number(data[2]) <= 65_536, `a 64 MiB file system at ${DATA_MOUNT} (${data[2]} KiB)`);
  });

  it("stops gracefully through the ACPI power button: the app gets SIGTERM, and no exit is pushed", async (t) => {
    const vm = await serving(t, "vm-acpi");
    if (!vm) return;
    const { driver, instance, io } = vm;
    try {
      const started = Date.now();
      await driver.stop(instance, 60_000);
      const took = Date.now() - started;
      assert.ok(io.lines.some((l) => l.line === "got SIGTERM"), `the app's TERM trap ran:\n${io.text()}`);
      assert.ok(took < 30_000, `the guest powered off on its own (${took} ms), not at the end of the grace period`);
      assert.deepEqual(io.exits, [], "stop() pushes no exit");
      assert.deepEqual(await driver.inspect(instance), { status: "gone" });
    } finally {
      await driver.stop(instance, 0);
    }
    assert.deepEqual(await leftovers(instance.id), []);
  });

  it("pushes the end of a VM that ended under its app, with QEMU's SHUTDOWN reason (QMP events)", async (t) => {
    const vm = await serving(t, "vm-qmp");
    if (!vm) return;
    const { driver, instance, io } = vm;
    try {
      const pid = (instance.handle.data as { pid: number }).pid;
      process.kill(pid, "SIGTERM"); // QEMU ends on SIGTERM with a SHUTDOWN event (host-signal); the guest says nothing
      const deadline = Date.now() + 20_000;
      while (io.exits.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(io.exits, [{ status: "exited", code: -1, reason: "killed" }], io.text());
      assert.ok(io.lines.some((l) => l.stream === "stderr" && /^strata: the VM ended before its app did \(QEMU SHUTDOWN: host-signal\)/.test(l.line)), io.text());
    } finally {
      await driver.stop(instance, 0);
    }
    assert.deepEqual(await leftovers(instance.id), []);
  });
});
