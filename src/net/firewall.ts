import { exec } from "../system/exec.js";

/**
 * The egress policy for instances, as two nftables tables named after the bridge, which Strata owns
 * outright (replaced atomically with one `nft -f`, never edited rule by rule):
 *
 * - `inet <bridge>` (L3): nothing an instance sends to the host is accepted except replies to connections
 *   the host opened (the router connecting to an instance). So the API port, every other host port and
 *   every host address (127.0.0.1 is the instance's own loopback anyway) are closed to instances; they are
 *   rejected rather than dropped so a misbehaving app fails fast instead of hanging. Nothing is forwarded
 *   to or from the bridge: no route to the outside world, and no instance-to-instance path through the
 *   host's IP stack even if someone turns on ip_forward.
 * - `bridge <bridge>` (L2): frames between two instance ports (`sv-*` veths, `sv-<home tag><slot>`) on the bridge are dropped, so
 *   tenants cannot reach each other directly either. The ports are also marked `isolated` by HostNetwork;
 *   the two mechanisms cover each other (a port added by hand without the flag is still filtered here).
 *
 * Outbound internet access is OFF by default and not implemented: turning it on later means ip_forward=1,
 * a masquerade rule for the subnet in a nat chain, and `iifname <bridge> oifname != <bridge> accept` ahead
 * of the forward drop. This host has no route out, so nothing here enables it.
 */
export const VETH_PREFIX = "sv-";

/**
 * A service the host offers instances on its bridge address (Lambda's Runtime API): the one exception
 * to "no host port", and only at that address and port; the service itself tells instances apart by
 * their source address, which source-guard.ts keeps each instance to.
 */
export interface HostService {
  address: string;
  port: number;
}

export function rulesetFor(bridge: string, services: readonly HostService[] = []): string {
  const allowed = services.map((s) => `    iifname "${bridge}" ip daddr ${s.address} tcp dport ${s.port} accept\n`).join("");
  // `table X {}` then `delete table X` makes the replace idempotent whether or not the table exists.
  return `table inet ${bridge} {}
delete table inet ${bridge}
table inet ${bridge} {
  chain input {
    type filter hook input priority filter - 10; policy accept;
    iifname "${bridge}" ct state established,related accept
${allowed}    iifname "${bridge}" meta l4proto tcp reject with tcp reset
    iifname "${bridge}" reject with icmpx type admin-prohibited
  }
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    iifname "${bridge}" drop
    oifname "${bridge}" drop
  }
}
table bridge ${bridge} {}
delete table bridge ${bridge}
table bridge ${bridge} {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    iifname "${VETH_PREFIX}*" oifname "${VETH_PREFIX}*" drop
  }
}
`;
}

export async function applyFirewall(bridge: string, services: readonly HostService[] = []): Promise<void> {
  await exec(["nft", "-f", "-"], { input: rulesetFor(bridge, services) });
}

export async function removeFirewall(bridge: string): Promise<void> {
  await exec(["nft", "-f", "-"], {
    input: `table inet ${bridge} {}\ndelete table inet ${bridge}\ntable bridge ${bridge} {}\ndelete table bridge ${bridge}\n`,
  });
}
