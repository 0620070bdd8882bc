import { StrataError } from "../../errors.js";
import { CTL_PORT, EXEC_PORT, LOG_PORT, type GuestBoot } from "../guest/index.js";

/** One Xen guest as Strata would create it: the guest pipeline's kernel, initramfs and disks, as a PVH domain. */
export interface XenGuest extends GuestBoot {
  /** The domain's name: the driver's prefix and the instance id (xl finds, re-adopts and sweeps it by name). */
  readonly name: string;
  readonly memoryMb: number;
  readonly vcpus: number;
  readonly mac: string;
  /** The backend interface's name in dom0 (the driver moves it into the instance's netns). */
  readonly vifName: string;
  /** The hotplug script xl runs for the vif (Strata's vif-strata, instead of vif-bridge: no bridge in dom0). */
  readonly vifScript: string;
  /** dom0 unix sockets of the guest's log, control and exec channels. */
  readonly logSocket: string;
  readonly controlSocket: string;
  readonly execSocket: string;
}

/** An xl.cfg string: double-quoted; a value that would need escaping is refused rather than escaped wrong. */
function str(key: string, value: string): string {
  if (/["\\\n\r\0]/.test(value)) throw new StrataError("INVALID_ARGUMENT", `xl.cfg ${key}: ${JSON.stringify(value)} holds a quote, backslash or line break`);
  return `"${value}"`;
}

/** A list value's item (a disk or vif spec): its commas separate keys, so a value may hold none. */
function item(key: string, value: string): string {
  if (/[,=]/.test(value)) throw new StrataError("INVALID_ARGUMENT", `xl.cfg ${key}: ${JSON.stringify(value)} holds a , or =`);
  return value;
}

/**
 * The xl.cfg (xl.cfg(5), xl-disk-configuration(5), xl-network-configuration(5)) that `xl create` reads for
 * one instance: a PVH domain booting the same vmlinux and initramfs as the QEMU drivers, the image and run
 * disks read-only, one vif, and three PV channels named as the virtio-serial ports are (log, control, exec). Any end of the
 * domain destroys it: the instance's end is the guest's poweroff or reboot, as with QEMU's -no-reboot.
 */
export function xlConfig(g: XenGuest): string {
  const disk = (vdev: string, target: string) => str("disk", `format=raw, vdev=${vdev}, access=ro, target=${item("disk target", target)}`);
  const channel = (name: string, path: string) => str("channel", `name=${name}, connection=socket, path=${item("channel path", path)}`);
  const lines = [
    `name = ${str("name", g.name)}`,
    `type = "pvh"`,
    `kernel = ${str("kernel", g.kernel)}`,
    `ramdisk = ${str("ramdisk", g.initramfs)}`,
    `cmdline = ${str("cmdline", g.cmdline)}`,
    `memory = ${Math.trunc(g.memoryMb)}`,
    `maxmem = ${Math.trunc(g.memoryMb)}`,
    `vcpus = ${Math.trunc(g.vcpus)}`,
    `on_poweroff = "destroy"`,
    `on_reboot = "destroy"`,
    `on_crash = "destroy"`,
    `disk = [ ${disk("xvda", g.rootDisk)}, ${disk("xvdb", g.runDisk)} ]`,
    `vif = [ ${str("vif", `mac=${item("mac", g.mac)}, vifname=${item("vifname", g.vifName)}, script=${item("script", g.vifScript)}`)} ]`,
    `channel = [ ${channel(LOG_PORT, g.logSocket)}, ${channel(CTL_PORT, g.controlSocket)}, ${channel(EXEC_PORT, g.execSocket)} ]`,
  ];
  return `${lines.join("\n")}\n`;
}
