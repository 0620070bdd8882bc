import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { exec, which } from "../../../src/system/exec.js";
import { StrataError } from "../../../src/errors.js";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import { probeXen, XenDriver, xlConfig, type XenGuest } from "../../../src/sandbox/xen/index.js";

const dir = await mkdtemp(join(tmpdir(), "strata-xen-"));
after(() => rm(dir, { recursive: true, force: true }));

const guest: XenGuest = {
  name: "strata-5e3c1a-i0123456789ab",
  kernel: "/usr/local/lib/strata/guest/current/vmlinux",
  initramfs: "/var/cache/strata/guest/initramfs-0123456789abcdef.cpio",
  cmdline: "console=hvc0 quiet panic=-1 rdinit=/init",
  rootDisk: "/var/lib/strata/cache/guest-disks/ab.ext4",
  runDisk: "/var/lib/strata/run/xen/instances/i0123456789ab/run.img",
  memoryMb: 224,
  vcpus: 2,
  mac: "02:53:0a:e0:00:05",
  vifName: "xvi0123456789ab",
  vifScript: "/usr/local/lib/strata/xen/vif-netns",
  logSocket: "/var/lib/strata/run/xen/instances/i0123456789ab/log.sock",
  controlSocket: "/var/lib/strata/run/xen/instances/i0123456789ab/ctl.sock",
  execSocket: "/var/lib/strata/run/xen/instances/i0123456789ab/exec.sock",
};

describe("xen probe", () => {
  it("says why this host cannot create Xen guests, in its own terms", async () => {
    const probe = await probeXen();
    if (probe.available) return assert.ok(probe.details?.xl, "a dom0 names its xl");
    assert.match(probe.reason ?? "", /^this host is (not a Xen dom0: no \/proc\/xen; (it is itself a virtual machine|the kernel did not boot under)|a Xen domU|a Xen dom0 but xl is not installed)/);
    assert.ok(probe.install?.length);
  });

  it("tells a dom0 from a domU from a VM of another hypervisor", async () => {
    const cpuVm = join(dir, "cpuinfo-vm");
    const cpuBare = join(dir, "cpuinfo-bare");
    await writeFile(cpuVm, "processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n");
    await writeFile(cpuBare, "processor\t: 0\nflags\t\t: fpu vme vmx lahf_lm\n");
    const none = join(dir, "no-xen");
    assert.match((await probeXen(none, cpuVm)).reason!, /no \/proc\/xen; it is itself a virtual machine of another hypervisor .*nested/);
    assert.match((await probeXen(none, cpuBare)).reason!, /no \/proc\/xen; the kernel did not boot under the Xen hypervisor/);
    const domU = join(dir, "domU");
    await mkdir(domU);
    await writeFile(join(domU, "capabilities"), "");
    assert.match((await probeXen(domU, cpuVm)).reason!, /a Xen domU/);
    const dom0 = join(dir, "dom0");
    await mkdir(dom0);
    await writeFile(join(dom0, "capabilities"), "control_d\n");
    const probe = await probeXen(dom0, cpuBare);
    if (await which("xl")) assert.equal(probe.available, true);
    else assert.deepEqual([probe.available, probe.reason, probe.install], [false, "this host is a Xen dom0 but xl is not installed", ["xen-utils"]]);
  });
});

describe("xen exec", () => {
  it("can exec (through the guest init's exec channel), and on a host that is no dom0 says why", async () => {
    const home = new StrataHome(join(dir, "home"));
    const driver = new XenDriver({ home, network: new HostNetwork(home, { bridge: "strataxn9", subnet: "10.233.51.0/24" }), procXen: join(dir, "no-xen") });
    assert.equal(driver.capabilities.exec, true);
    const instance = { id: "i0123456789ab", driver: "xen" as const, endpoint: { host: "10.233.51.2", port: 8080 }, handle: { id: "i0123456789ab", driver: "xen" as const, data: {} } };
    await assert.rejects(driver.exec(instance, ["true"], { stdout: () => undefined, stderr: () => undefined }), (err: unknown) => {
      assert.ok(err instanceof StrataError);
      assert.equal(err.code, "SANDBOX_UNAVAILABLE");
      assert.match(err.message, /^xen: this host is /);
      return true;
    });
  });
});

describe("xl.cfg", () => {
  it("describes a PVH guest booting the guest pipeline's kernel, initramfs and read-only disks, destroyed at any end", () => {
    assert.equal(
      xlConfig(guest),
      [
        'name = "strata-5e3c1a-i0123456789ab"',
        'type = "pvh"',
        'kernel = "/usr/local/lib/strata/guest/current/vmlinux"',
        'ramdisk = "/var/cache/strata/guest/initramfs-0123456789abcdef.cpio"',
        'cmdline = "console=hvc0 quiet panic=-1 rdinit=/init"',
        "memory = 224",
        "maxmem = 224",
        "vcpus = 2",
        'on_poweroff = "destroy"',
        'on_reboot = "destroy"',
        'on_crash = "destroy"',
        'disk = [ "format=raw, vdev=xvda, access=ro, target=/var/lib/strata/cache/guest-disks/ab.ext4", "format=raw, vdev=xvdb, access=ro, target=/var/lib/strata/run/xen/instances/i0123456789ab/run.img" ]',
        'vif = [ "mac=02:53:0a:e0:00:05, vifname=xvi0123456789ab, script=/usr/local/lib/strata/xen/vif-netns" ]',
        'channel = [ "name=strata.log, connection=socket, path=/var/lib/strata/run/xen/instances/i0123456789ab/log.sock", "name=strata.ctl, connection=socket, path=/var/lib/strata/run/xen/instances/i0123456789ab/ctl.sock", "name=strata.exec, connection=socket, path=/var/lib/strata/run/xen/instances/i0123456789ab/exec.sock" ]',
        "",
      ].join("\n"),
    );
  });

  it("refuses a value that would break out of its string or its list item", () => {
    assert.throws(() => xlConfig({ ...guest, cmdline: 'quiet" on_crash="preserve' }), /cmdline: .* holds a quote/);
    assert.throws(() => xlConfig({ ...guest, rootDisk: "/a.ext4, access=rw" }), /disk target: .* holds a , or =/);
    assert.throws(() => xlConfig({ ...guest, kernel: "/k\nextra = 1" }), /kernel: .* line break/);
  });

  it("is accepted by xl create -n (a dry run) where xen-utils is installed", async (t) => {
    const xl = await which("xl");
    if (!xl) return t.skip("xl is not installed (xen-utils): the dry run needs it");
    const cfg = join(dir, "guest.cfg");
    await writeFile(cfg, xlConfig(guest));
    await exec([xl, "create", "-n", cfg]);
  });
});
