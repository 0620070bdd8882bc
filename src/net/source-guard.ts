import { exec } from "../system/exec.js";

/**
 * The source-address guard: every frame an instance sends enters the bridge through the host end of its
 * veth (`sv-<home tag><slot>`), whatever runs it: a container in the namespace, a VM whose tap or Xen vif
 * is redirected onto the namespace's eth0 (sandbox/guest/network.ts), or an LXD container that owns its
 * namespace and may change its own addresses (CAP_NET_ADMIN in its user namespace). There, in the root
 * namespace where no instance reaches, a frame passes only with the port's own MAC and IPv4 address
 * (an ARP packet only with them as its sender); everything else is dropped: another tenant's or the
 * host's address (the Runtime API and the firewall tell instances apart by source address), another
 * MAC (which would move a tenant's MAC to this port in the bridge's forwarding table), and IPv6, which
 * Strata does not give instances.
 *
 * One nftables table per bridge, `bridge <bridge>_guard`, apart from firewall.ts's tables because those
 * are replaced whole and this one holds state: its set has one (port, MAC, address) element per attached
 * address. Veth name, MAC and address are all functions of the address's slot, so an element is right
 * for whoever holds that slot, and adding one twice is harmless.
 */
export function guardTable(bridge: string): string {
  return `${bridge}_guard`;
}

/** What `nft -f` declares: the set (kept if it exists, elements and all) and the chain's rules (replaced). */
export function guardRuleset(bridge: string, vethPrefix: string): string {
  const t = guardTable(bridge);
  return `table bridge ${t} {
  set ports {
    type ifname . ether_addr . ipv4_addr
  }
  chain prerouting {
    type filter hook prerouting priority filter; policy accept;
  }
}
flush chain bridge ${t} prerouting
table bridge ${t} {
  chain prerouting {
    iifname != "${vethPrefix}*" accept
    iifname . ether saddr . ip saddr @ports accept
    iifname . ether saddr . arp saddr ip @ports iifname . arp saddr ether . arp saddr ip @ports accept
    drop
  }
}
`;
}

export interface GuardedPort {
  veth: string;
  mac: string;
  address: string;
}

const element = (p: GuardedPort) => `"${p.veth}" . ${p.mac} . ${p.address}`;

/** Creates the guard or renews its rules (its elements stay), and lets `ports` send from their own addresses. */
export async function applySourceGuard(bridge: string, vethPrefix: string, ports: readonly GuardedPort[] = []): Promise<void> {
  const adds = ports.length ? `add element bridge ${guardTable(bridge)} ports { ${ports.map(element).join(", ")} }\n` : "";
  await exec(["nft", "-f", "-"], { input: guardRuleset(bridge, vethPrefix) + adds });
}

export async function allowSource(bridge: string, port: GuardedPort): Promise<void> {
  await exec(["nft", "add", "element", "bridge", guardTable(bridge), "ports", `{ ${element(port)} }`]);
}

/** Idempotent: an element already gone (exit 1, "No such file or directory") is what we want. */
export async function forgetSource(bridge: string, port: GuardedPort): Promise<void> {
  await exec(["nft", "delete", "element", "bridge", guardTable(bridge), "ports", `{ ${element(port)} }`], { okCodes: [0, 1] });
}

export async function removeSourceGuard(bridge: string): Promise<void> {
  const t = guardTable(bridge);
  await exec(["nft", "-f", "-"], { input: `table bridge ${t} {}\ndelete table bridge ${t}\n` });
}
