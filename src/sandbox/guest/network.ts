import { exec } from "../../system/exec.js";
import { macForAddress, type GuestNet } from "./run-file.js";

/** The guest NIC's tap, inside the instance's own network namespace. */
export const TAP = "tap0";

/**
 * Hands the instance's network namespace (HostNetwork's: eth0 = the veth on the Strata bridge, with the
 * instance's address and default route) over to a guest: the address moves from eth0 to the guest, a tap
 * is made, and every frame is passed between eth0 and the tap by tc mirred redirects (as Kata's tcfilter
 * mode does), so the guest is on the bridge with the instance's address, behind the same veth, the same
 * bridge isolation and the same firewall rules as a container. Returns the guest's network settings.
 */
export async function plumbGuestNet(netnsPath: string): Promise<GuestNet> {
  const inNs = (argv: string[], okCodes?: number[]) => exec(["nsenter", `--net=${netnsPath}`, "--", ...argv], okCodes ? { okCodes } : {});
  const addrs = JSON.parse((await inNs(["ip", "-j", "-4", "addr", "show", "dev", "eth0"])).stdout || "[]") as Array<{
    addr_info?: Array<{ local: string; prefixlen: number }>;
  }>;
  const info = addrs[0]?.addr_info?.[0];
  const routes = JSON.parse((await inNs(["ip", "-j", "-4", "route", "show", "default"])).stdout || "[]") as Array<{ gateway?: string }>;
  const gateway = routes[0]?.gateway;
  if (!info || !gateway) throw new Error("the instance's network namespace has no address or default route on eth0");
  await exec(["nsenter", `--net=${netnsPath}`, "--", "ip", "-batch", "-"], {
    input: [`addr flush dev eth0`, `tuntap add dev ${TAP} mode tap`, `link set ${TAP} up`].join("\n") + "\n",
  });
  for (const [from, to] of [["eth0", TAP], [TAP, "eth0"]] as const) {
    await inNs(["tc", "qdisc", "add", "dev", from, "ingress"]);
    await inNs(["tc", "filter", "add", "dev", from, "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", to]);
  }
  return { address: info.local, prefix: info.prefixlen, gateway, mac: macForAddress(info.local) };
}
