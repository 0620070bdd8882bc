import { exec, type ExecOptions } from "../../system/exec.js";
import { macForAddress } from "../../net/index.js";
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
export async function plumbGuestNet(netnsPath: string): Promise<GuestNet> {
  const net = await guestNetOf(netnsPath);
  await nsExec(netnsPath, ["ip", "tuntap", "add", "dev", TAP, "mode", "tap"]);
  await bridgeGuestNic(netnsPath, TAP);
  return net;
}

/** The guest's network settings: the address and default route HostNetwork gave the namespace's eth0. */
export async function guestNetOf(netnsPath: string): Promise<GuestNet> {
  const addrs = JSON.parse((await nsExec(netnsPath, ["ip", "-j", "-4", "addr", "show", "dev", "eth0"])).stdout || "[]") as Array<{
    addr_info?: Array<{ local: string; prefixlen: number }>;
  }>;
  const info = addrs[0]?.addr_info?.[0];
  const routes = JSON.parse((await nsExec(netnsPath, ["ip", "-j", "-4", "route", "show", "default"])).stdout || "[]") as Array<{ gateway?: string }>;
  const gateway = routes[0]?.gateway;
  if (!info || !gateway) throw new Error("the instance's network namespace has no address or default route on eth0");
  return { address: info.local, prefix: info.prefixlen, gateway, mac: macForAddress(info.local) };
}

/**
 * Puts the guest's NIC backend `nic` (a tap, or a Xen vif moved into the namespace) in eth0's place: the
 * address leaves eth0 for the guest, and tc mirred redirects pass every frame between eth0 and `nic`.
 */
export async function bridgeGuestNic(netnsPath: string, nic: string): Promise<void> {
  await nsExec(netnsPath, ["ip", "-batch", "-"], { input: [`addr flush dev eth0`, `link set ${nic} up`].join("\n") + "\n" });
  for (const [from, to] of [["eth0", nic], [nic, "eth0"]] as const) {
    await nsExec(netnsPath, ["tc", "qdisc", "add", "dev", from, "ingress"]);
    await nsExec(netnsPath, ["tc", "filter", "add", "dev", from, "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", to]);
  }
}

function nsExec(netnsPath: string, argv: string[], opts: ExecOptions = {}) {
  return exec(["nsenter", `--net=${netnsPath}`, "--", ...argv], opts);
}
