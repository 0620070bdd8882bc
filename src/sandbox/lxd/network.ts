import { basename } from "node:path";
import { StrataError } from "../../errors.js";
import { exec } from "../../system/exec.js";
import type { HostNetwork } from "../../net/index.js";

/**
 * The instance's NIC, made by HostNetwork exactly as a container's (address lease, veth on the Strata
 * bridge with its port `isolated`, so the same nftables tables filter it), then handed to LXD: the veth's
 * inner end leaves its namespace for the host's under the name `sl…` (the host end's `sv…` name with the
 * same slot), and the instance gets it as a `physical` NIC, which LXD moves into the container's own
 * network namespace (created inside its user namespace: a namespace made outside one cannot be shared, as
 * sysfs refuses to mount there). The address and route are set by LXC before init runs.
 */
export async function attachNic(network: HostNetwork, instanceId: string): Promise<{ address: string; parent: string }> {
  const { netnsPath, address } = await network.attach(instanceId);
  const links = JSON.parse((await exec(["ip", "-j", "link", "show"])).stdout || "[]") as Array<{ ifname: string; ifalias?: string }>;
  const host = links.find((l) => l.ifalias === instanceId && l.ifname.startsWith("sv"));
  if (!host) throw new StrataError("DRIVER_FAILED", `no bridge port is labelled ${instanceId} after attaching it`);
  const parent = `sl${host.ifname.slice(2)}`;
  if (!links.some((l) => l.ifname === parent)) await exec(["ip", "-n", basename(netnsPath), "link", "set", "eth0", "netns", "1", "name", parent]);
  return { address, parent };
}

/** The raw.lxc lines that give NIC 0 its address and default route (LXC sets them up before init). */
export function addressConfig(address: string, prefix: number, gateway: string): string {
  return `lxc.net.0.ipv4.address = ${address}/${prefix}\nlxc.net.0.ipv4.gateway = ${gateway}\n`;
}
