import { exec, type ExecOptions } from "../../system/exec.js";
import { macForAddress, type Attachment } from "../../net/index.js";
import type { GuestNet } from "./run-file.js";

/** The guest NIC's tap, inside the instance's own network namespace. */
export const TAP = "tap0";

/**
 * Hands the instance's network namespace (HostNetwork's: eth0 = the veth on the Strata bridge, with the
 * instance's address and default route) over to a guest: the address moves from eth0 to the guest, a tap
 * is made, and every frame is passed between eth0 and the tap by tc mirred redirects (as Kata's tcfilter
 * mode does), so the guest is on the bridge with the instance's address, behind the same veth, the same
 * bridge isolation, firewall rules and source guard (net/source-guard.ts: only its own MAC and address
 * pass) as a container. Returns the guest's network settings.
 */
export async function plumbGuestNet(attachment: Attachment): Promise<GuestNet> {
  await bridgeGuestNic(attachment.netnsPath, TAP, [`tuntap add dev ${TAP} mode tap`]);
  return guestNetOf(attachment);
}

/** The guest's network settings: the instance's address and default route, as HostNetwork gave them to eth0. */
export function guestNetOf(attachment: Attachment): GuestNet {
  return { address: attachment.address, prefix: attachment.prefix, gateway: attachment.gateway, mac: macForAddress(attachment.address) };
}

/**
 * Puts the guest's NIC backend `nic` (a tap, or a Xen vif moved into the namespace) in eth0's place: the
 * address leaves eth0 for the guest, and tc mirred redirects pass every frame between eth0 and `nic`.
 * `ipFirst` are `ip` commands to run before (making the tap). One `ip -batch` and one `tc -batch`: every
 * nsenter is a process start on an instance's cold and restore path.
 */
export async function bridgeGuestNic(netnsPath: string, nic: string, ipFirst: readonly string[] = []): Promise<void> {
  await nsExec(netnsPath, ["ip", "-batch", "-"], { input: lines([...ipFirst, "addr flush dev eth0", `link set ${nic} up`]) });
  await nsExec(netnsPath, ["tc", "-batch", "-"], {
    input: lines([["eth0", nic], [nic, "eth0"]].flatMap(([from, to]) => [
      `qdisc add dev ${from} ingress`,
      `filter add dev ${from} parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev ${to}`,
    ])),
  });
}

function lines(commands: readonly string[]): string {
  return commands.map((c) => `${c}\n`).join("");
}

function nsExec(netnsPath: string, argv: string[], opts: ExecOptions = {}) {
  return exec(["nsenter", `--net=${netnsPath}`, "--", ...argv], opts);
}
