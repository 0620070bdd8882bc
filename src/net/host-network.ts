import { createHash } from "node:crypto";
import { pathExists } from "../system/fs.js";
import { StrataError } from "../errors.js";
import type { StrataHome } from "../home.js";
import { exec } from "../system/exec.js";
import { applyFirewall, removeFirewall, VETH_PREFIX } from "./firewall.js";
import { IpAllocator } from "./ip-allocator.js";
import { parseSubnet, type Subnet } from "./subnet.js";

export interface HostNetworkOptions {
  /** Instance subnet (default: a /20 of 10.224.0.0/11 chosen by the home's tag); the host takes its first address. */
  subnet?: string;
  /** Bridge name (default strata<home tag>). */
  bridge?: string;
}

/** One /20 (4,094 instances) of 10.224.0.0/11 per STRATA_HOME, so two daemons' subnets do not overlap. */
export function defaultSubnet(tag: string): string {
  const index = parseInt(tag, 16) % 512;
  return `10.${224 + (index >> 4)}.${(index & 15) << 4}.0/20`;
}

export interface Attachment {
  /** Bind-mountable network namespace file, for an OCI runtime's `linux.namespaces[].path` or nsenter. */
  netnsPath: string;
  address: string;
}

const IFNAMSIZ = 15;

/**
 * The host side of instance networking: one bridge with the host's address on it, one network namespace
 * per instance (`strata-<id>`) joined to the bridge by a veth pair (host end `sv-<id>`, shortened with a
 * hash when the id is long; its ifalias always carries the full id), addresses from IpAllocator, and the
 * egress policy of firewall.ts. The router, in the root namespace, reaches every instance address
 * directly; instances reach nothing but their own namespace (see firewall.ts).
 */
export class HostNetwork {
  readonly subnet: Subnet;
  readonly bridge: string;
  /** Namespaces are `strata-<home tag>-<instance id>`: this daemon's own, by name. */
  private readonly netnsPrefix: string;
  private readonly allocator: IpAllocator;
  /** ensure() once per object before the first attach, so a driver works without a separate set-up step. */
  private ready: Promise<void> | undefined;

  constructor(home: StrataHome, opts: HostNetworkOptions = {}) {
    this.subnet = parseSubnet(opts.subnet ?? defaultSubnet(home.tag));
    this.bridge = opts.bridge ?? `strata${home.tag}`;
    this.netnsPrefix = `strata-${home.tag}-`;
    // The name also names the nftables tables, hence the identifier-safe alphabet.
    if (!/^[a-z][a-z0-9_]{0,14}$/.test(this.bridge)) {
      throw new StrataError("INVALID_ARGUMENT", `bridge name "${this.bridge}" must be 1-15 lowercase letters, digits or _, starting with a letter`);
    }
    this.allocator = new IpAllocator(home.runtime("net"), this.subnet);
  }

  /** The host's address on the bridge: instances' default gateway, and where they must NOT get in. */
  get gateway(): string {
    return this.subnet.gateway;
  }

  /** Creates the bridge and installs the egress policy; safe to call at every start-up (attach calls it once). */
  async ensure(): Promise<void> {
    if (!(await linkExists(this.bridge))) {
      // Exit 2 ("File exists"): another HostNetwork on this host created it meanwhile, which is as good.
      await exec(["ip", "link", "add", this.bridge, "type", "bridge", "stp_state", "0"], { okCodes: [0, 2] });
    }
    const addr = `${this.subnet.gateway}/${this.subnet.prefix}`;
    const shown = await exec(["ip", "-o", "-4", "addr", "show", "dev", this.bridge]);
    if (!shown.stdout.includes(` ${addr} `)) {
      await exec(["ip", "addr", "add", addr, "dev", this.bridge]);
    }
    await exec(["ip", "link", "set", this.bridge, "up"]);
    await applyFirewall(this.bridge);
  }

  netnsName(instanceId: string): string {
    return `${this.netnsPrefix}${instanceId}`;
  }

  netnsPath(instanceId: string): string {
    return `/run/netns/${this.netnsName(instanceId)}`;
  }

  /** The host end of the instance's veth pair: `sv-<id>`, or `sv-<id prefix><hash>` when that is too long. */
  vethName(instanceId: string): string {
    const plain = `${VETH_PREFIX}${instanceId}`;
    if (plain.length <= IFNAMSIZ) return plain;
    const hash = createHash("sha256").update(instanceId).digest("hex").slice(0, 7);
    return `${VETH_PREFIX}${instanceId.slice(0, IFNAMSIZ - VETH_PREFIX.length - hash.length)}${hash}`;
  }

  /**
   * Creates the instance's namespace, veth pair, address and default route. Idempotent for an id that
   * is already attached (a half-made attachment from a crash is torn down and made again).
   */
  async attach(instanceId: string): Promise<Attachment> {
    assertInstanceId(instanceId);
    this.ready ??= this.ensure().catch((err: unknown) => {
      this.ready = undefined; // retried by the next attach
      throw err;
    });
    await this.ready;
    const address = await this.allocator.lease(instanceId);
    const ns = this.netnsName(instanceId);
    const veth = this.vethName(instanceId);
    if (await this.isAttached(instanceId, address)) return { netnsPath: this.netnsPath(instanceId), address };
    await this.removeLinks(instanceId);
    try {
      // Two `ip -batch` runs instead of ~10 ip invocations: attach is on the cold-start path.
      await exec(["ip", "-batch", "-"], {
        input: [
          `netns add ${ns}`,
          `link add ${veth} type veth peer name eth0 netns ${ns}`,
          `link set dev ${veth} alias ${instanceId}`,
          `link set dev ${veth} master ${this.bridge}`,
          `link set dev ${veth} type bridge_slave isolated on`,
          `link set dev ${veth} up`,
          "",
        ].join("\n"),
      });
      await exec(["ip", "-n", ns, "-batch", "-"], {
        input: [
          "link set dev lo up",
          `addr add ${address}/${this.subnet.prefix} dev eth0`,
          "link set dev eth0 up",
          `route add default via ${this.subnet.gateway} dev eth0`,
          "",
        ].join("\n"),
      });
    } catch (err) {
      await this.detach(instanceId);
      throw new StrataError("DRIVER_FAILED", `could not attach instance ${instanceId} to ${this.bridge}: ${(err as Error).message}`, {
        instanceId,
      }, { cause: err });
    }
    return { netnsPath: this.netnsPath(instanceId), address };
  }

  /** Removes the namespace, veth and lease of an instance; idempotent. */
  async detach(instanceId: string): Promise<void> {
    assertInstanceId(instanceId);
    const leased = (await this.allocator.leases())[instanceId];
    await this.removeLinks(instanceId);
    if (leased) {
      // The address may be leased again later to a veth with another MAC: forget the old neighbour now.
      // Not fatal (exit 1/2): the bridge may already be gone, and then so is its neighbour table.
      await exec(["ip", "neigh", "flush", "to", leased, "dev", this.bridge], { okCodes: [0, 1, 2] });
      await this.allocator.release(instanceId);
    }
  }

  /** Detaches every instance Strata networked whose id is not in `keep` (namespaces, veths, leases). */
  async sweep(keep: ReadonlySet<string>): Promise<void> {
    const ids = new Set<string>(Object.keys(await this.allocator.leases()));
    for (const name of await listNetns()) if (name.startsWith(this.netnsPrefix)) ids.add(name.slice(this.netnsPrefix.length));
    // Only veths on this daemon's bridge: another daemon's are on its own.
    for (const link of await listVeths()) if (link.name.startsWith(VETH_PREFIX) && link.alias && link.master === this.bridge) ids.add(link.alias);
    for (const id of ids) if (!keep.has(id)) await this.detach(id);
  }

  /** Removes the bridge and its firewall tables (instances must be detached first). */
  async teardown(): Promise<void> {
    await removeFirewall(this.bridge);
    if (await linkExists(this.bridge)) await exec(["ip", "link", "delete", this.bridge]);
  }

  /** Ids with a lease, a namespace or a veth, for tests and `strata doctor`. */
  async attachedIds(): Promise<string[]> {
    const ids = new Set<string>(Object.keys(await this.allocator.leases()));
    for (const name of await listNetns()) if (name.startsWith(this.netnsPrefix)) ids.add(name.slice(this.netnsPrefix.length));
    return [...ids].sort();
  }

  private async isAttached(instanceId: string, address: string): Promise<boolean> {
    if (!(await pathExists(this.netnsPath(instanceId))) || !(await linkExists(this.vethName(instanceId)))) return false;
    const shown = await exec(["ip", "-n", this.netnsName(instanceId), "-o", "-4", "addr", "show", "dev", "eth0"], { okCodes: [0, 1] });
    return shown.stdout.includes(` ${address}/`);
  }

  private async removeLinks(instanceId: string): Promise<void> {
    // Deleting the namespace destroys eth0 and with it the host end of the pair; the explicit link delete
    // covers a crash between `link add` and moving the peer.
    if (await pathExists(this.netnsPath(instanceId))) await exec(["ip", "netns", "delete", this.netnsName(instanceId)]);
    const veth = this.vethName(instanceId);
    if (await linkExists(veth)) await exec(["ip", "link", "delete", veth], { okCodes: [0, 1] });
  }
}

/** Instance ids become interface aliases, namespace names and ip(8) batch words: keep them plain. */
function assertInstanceId(id: string): void {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(id)) {
    throw new StrataError("INVALID_ARGUMENT", `instance id "${id}" must be 1-63 lowercase letters, digits and dashes`);
  }
}

async function linkExists(name: string): Promise<boolean> {
  return pathExists(`/sys/class/net/${name}`);
}

async function listNetns(): Promise<string[]> {
  const out = await exec(["ip", "netns", "list"]);
  return out.stdout
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);
}

async function listVeths(): Promise<Array<{ name: string; alias?: string; master?: string }>> {
  const out = await exec(["ip", "-j", "link", "show", "type", "veth"]);
  const links = JSON.parse(out.stdout || "[]") as Array<{ ifname: string; ifalias?: string; master?: string }>;
  return links.map((l) => ({ name: l.ifname, alias: l.ifalias, master: l.master }));
}
