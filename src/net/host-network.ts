import { readFile, writeFile } from "node:fs/promises";
import { pathExists } from "../system/fs.js";
import { StrataError } from "../errors.js";
import type { StrataHome } from "../home.js";
import { exec } from "../system/exec.js";
import { applyFirewall, removeFirewall, VETH_PREFIX, type HostService } from "./firewall.js";
import { IpAllocator } from "./ip-allocator.js";
import { isSpareKey, SparePool } from "./spare-pool.js";
import { allowSource, applySourceGuard, forgetSource, removeSourceGuard, type GuardedPort } from "./source-guard.js";
import { intToIp, ipToInt, macForAddress, parseSubnet, type Subnet } from "./subnet.js";

export interface HostNetworkOptions {
  /** Instance subnet (default: a /20 of 10.224.0.0/11 chosen by the home's tag); the host takes its first address. */
  subnet?: string;
  /** Bridge name (default strata<home tag>). */
  bridge?: string;
  /** Namespaces made ahead for the next attaches (default 2; 0 makes each one when it is needed). */
  spares?: number;
  /** Told when making a spare namespace fails in the background (attach then makes them when needed). */
  onWarning?: (message: string) => void;
}

/** One /20 (4,094 instances) of 10.224.0.0/11 per STRATA_HOME, so two daemons' subnets do not overlap. */
export function defaultSubnet(tag: string): string {
  const index = parseInt(tag, 16) % 512;
  return `10.${224 + (index >> 4)}.${(index & 15) << 4}.0/20`;
}

/** How long after an attach the spares are made again: past the rest of that instance's cold start. */
const REFILL_DELAY_MS = 300;

export interface Attachment {
  /** Bind-mountable network namespace file, for an OCI runtime's `linux.namespaces[].path` or nsenter. */
  netnsPath: string;
  address: string;
  /** The subnet's prefix length and the host's address on the bridge (the namespace's default route). */
  prefix: number;
  gateway: string;
}

/**
 * The host side of instance networking: one bridge with the host's address on it, one network namespace
 * per instance joined to the bridge by a veth pair, addresses from IpAllocator, and the egress policy of
 * firewall.ts. The router, in the root namespace, reaches every instance address directly; instances
 * reach nothing but their own namespace (see firewall.ts).
 *
 * Namespace and veth are named by the ADDRESS they carry (`strata-<home tag>-<hex>`, `sv-<home tag><hex>`,
 * hex = the address's offset in the subnet), and the lease file maps instance id -> address; the veth's
 * ifalias shows the instance id. Naming by address rather than by instance id is what makes spares cheap:
 * making a namespace with its veth and address costs 40-70 ms of `ip` runs and kernel work on every cold
 * start, so a few are made ahead (SparePool) under a spare key, and attach() hands one over by moving its
 * lease to the instance (one file write, no `ip` run). A namespace is never reused after an instance had
 * it: stopping an instance removes its namespace, veth and lease.
 */
export class HostNetwork {
  readonly subnet: Subnet;
  readonly bridge: string;
  /** Namespaces are `strata-<home tag>-<hex>`, veths `sv-<home tag><hex>`: this daemon's own, by name. */
  private readonly netnsPrefix: string;
  private readonly vethPrefix: string;
  private readonly allocator: IpAllocator;
  /** ensure() once per object before the first attach, so a driver works without a separate set-up step. */
  private ready: Promise<void> | undefined;
  private readonly spares: SparePool;
  private readonly warn: (message: string) => void;
  private servicePorts: number[] = [];

  constructor(home: StrataHome, opts: HostNetworkOptions = {}) {
    this.subnet = parseSubnet(opts.subnet ?? defaultSubnet(home.tag));
    this.bridge = opts.bridge ?? `strata${home.tag}`;
    this.netnsPrefix = `strata-${home.tag}-`;
    this.vethPrefix = `${VETH_PREFIX}${home.tag}`;
    // The name also names the nftables tables, hence the identifier-safe alphabet.
    if (!/^[a-z][a-z0-9_]{0,14}$/.test(this.bridge)) {
      throw new StrataError("INVALID_ARGUMENT", `bridge name "${this.bridge}" must be 1-15 lowercase letters, digits or _, starting with a letter`);
    }
    this.allocator = new IpAllocator(home.runtime("net"), this.subnet);
    this.warn = opts.onWarning ?? (() => undefined);
    this.spares = new SparePool({
      size: opts.spares ?? 2,
      make: (key) => this.makeSpare(key),
      onError: (err) => this.warn(`could not make a spare network namespace (instances get theirs made when they start): ${(err as Error).message}`),
    });
  }

  /** The host's address on the bridge: instances' default gateway, and where they must NOT get in. */
  get gateway(): string {
    return this.subnet.gateway;
  }

  /** Creates the bridge and installs the egress policy; safe to call at every start-up (attach calls it once). */
  async ensure(): Promise<void> {
    // The bridge's MAC is set, never left to the kernel: a bridge without one takes the lowest MAC among its
    // ports, so it changed whenever that port's instance stopped, and every instance's cached gateway MAC went
    // stale with it. Their packets to the host (the Runtime API) were then lost until ARP found the new MAC
    // and TCP's backed-off retransmit came, seconds later: a function invocation timed out that way.
    const mac = macForAddress(this.subnet.gateway);
    if (!(await linkExists(this.bridge))) {
      // Exit 2 ("File exists"): another HostNetwork on this host created it meanwhile, which is as good.
      await exec(["ip", "link", "add", this.bridge, "address", mac, "type", "bridge", "stp_state", "0"], { okCodes: [0, 2] });
    }
    if ((await readFile(`/sys/class/net/${this.bridge}/address`, "utf8")).trim() !== mac) {
      await exec(["ip", "link", "set", this.bridge, "address", mac]); // a bridge made before the MAC was set
    }
    const addr = `${this.subnet.gateway}/${this.subnet.prefix}`;
    const shown = await exec(["ip", "-o", "-4", "addr", "show", "dev", this.bridge]);
    if (!shown.stdout.includes(` ${addr} `)) {
      await exec(["ip", "addr", "add", addr, "dev", this.bridge]);
    }
    await exec(["ip", "link", "set", this.bridge, "up"]);
    await applyFirewall(this.bridge, this.services());
    // The held addresses again, in case the guard's table went (its elements survive a daemon restart).
    await applySourceGuard(this.bridge, this.vethPrefix, Object.values(await this.allocator.leases()).map((a) => this.port(a)));
    this.spares.reopen();
  }

  private services(): HostService[] {
    return this.servicePorts.map((port) => ({ address: this.subnet.gateway, port }));
  }

  /**
   * Opens `port` on the host's bridge address to instances (the one way in: a service the host offers
   * them, such as Lambda's Runtime API), and makes sure the bridge exists so the service can listen there.
   */
  async offerService(port: number): Promise<void> {
    if (!this.servicePorts.includes(port)) this.servicePorts.push(port);
    this.ready ??= this.ensure().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    await this.ready;
    await applyFirewall(this.bridge, this.services());
  }

  /**
   * Gives the instance a namespace, veth pair, address and default route: a spare's when one is ready,
   * else made now. Idempotent for an id that is already attached (a half-made attachment from a crash is
   * torn down and made again).
   */
  async attach(instanceId: string): Promise<Attachment> {
    assertInstanceId(instanceId);
    this.ready ??= this.ensure().catch((err: unknown) => {
      this.ready = undefined; // retried by the next attach
      throw err;
    });
    await this.ready;
    try {
      const held = (await this.allocator.leases())[instanceId];
      if (held && (await this.isAttached(held))) return this.attachment(held);
      const spare = held ? undefined : this.spares.take();
      if (spare) {
        const claimed = await this.claim(spare, instanceId);
        if (claimed) return claimed;
      }
      const address = await this.allocator.lease(instanceId);
      try {
        await this.removeLinks(address);
        await this.plumb(address, instanceId);
      } catch (err) {
        await this.detach(instanceId);
        throw new StrataError("DRIVER_FAILED", `could not attach instance ${instanceId} to ${this.bridge}: ${(err as Error).message}`, {
          instanceId,
        }, { cause: err });
      }
      return this.attachment(address);
    } finally {
      this.spares.refillLater(REFILL_DELAY_MS); // in the background, for the next attach
    }
  }

  /** Removes the namespace, veth and lease of an instance; idempotent. */
  async detach(instanceId: string): Promise<void> {
    assertInstanceId(instanceId);
    await this.remove(instanceId);
  }

  /**
   * Removes every namespace, veth and lease not kept: instances not in `keep`, spares this object did not
   * make (a previous daemon's), and namespaces or veths whose address nobody holds (a crash mid-attach).
   */
  async sweep(keep: ReadonlySet<string>): Promise<void> {
    const leases = await this.allocator.leases();
    for (const key of Object.keys(leases)) {
      if (isSpareKey(key) ? !this.spares.owns(key) : !keep.has(key)) await this.remove(key);
    }
    const held = new Set(Object.values(await this.allocator.leases()));
    const orphans = new Set<string>();
    for (const name of await listNetns()) {
      const address = this.addressOfName(name, this.netnsPrefix);
      if (address && !held.has(address)) orphans.add(address);
    }
    for (const name of await listVeths()) {
      const address = this.addressOfName(name, this.vethPrefix);
      if (address && !held.has(address)) orphans.add(address);
    }
    for (const address of orphans) await this.removeLinks(address);
  }

  /** Stops making spares and removes the ready ones (at shutdown, whether or not instances stay behind). */
  async removeSpares(): Promise<void> {
    for (const key of await this.spares.drain()) await this.remove(key);
    this.ready = undefined; // a later attach sets the bridge up, and the pool, again
  }

  /** Removes the spares, the bridge and its firewall tables (instances must be detached first). */
  async teardown(): Promise<void> {
    await this.removeSpares();
    await removeFirewall(this.bridge);
    await removeSourceGuard(this.bridge);
    if (await linkExists(this.bridge)) await exec(["ip", "link", "delete", this.bridge]);
  }

  /** How many spare namespaces are ready to be handed out now. */
  get readySpares(): number {
    return this.spares.readyCount;
  }

  /** Ids of attached instances (spares not counted), for tests and `strata doctor`. */
  async attachedIds(): Promise<string[]> {
    return Object.keys(await this.allocator.leases())
      .filter((key) => !isSpareKey(key))
      .sort();
  }

  /** The address's offset in the subnet, in hex: short, and unique within this home. */
  private slot(address: string): string {
    return (ipToInt(address) - this.subnet.network).toString(16);
  }

  private netnsName(address: string): string {
    return `${this.netnsPrefix}${this.slot(address)}`;
  }

  /** At most 3 + 6 + 6 characters (a /8's offsets have 6 hex digits): within IFNAMSIZ (15). */
  private vethName(address: string): string {
    return `${this.vethPrefix}${this.slot(address)}`;
  }

  /** The address a namespace or veth name of this home stands for, or null for another's. */
  private addressOfName(name: string, prefix: string): string | null {
    const hex = name.startsWith(prefix) ? name.slice(prefix.length) : "";
    if (!/^[0-9a-f]{1,6}$/.test(hex)) return null;
    const n = this.subnet.network + parseInt(hex, 16);
    return n >= this.subnet.first && n <= this.subnet.last ? intToIp(n) : null;
  }

  /** The address's bridge port, with the only MAC and address source-guard.ts lets it send from. */
  private port(address: string): GuardedPort {
    return { veth: this.vethName(address), mac: macForAddress(address), address };
  }

  private attachment(address: string): Attachment {
    return { netnsPath: `/run/netns/${this.netnsName(address)}`, address, prefix: this.subnet.prefix, gateway: this.subnet.gateway };
  }

  /**
   * Hands a spare to an instance by moving its lease, and labels the veth with the instance id (its
   * ifalias, written through sysfs: no `ip` run). Null when that failed: the spare is removed and the
   * caller makes a namespace the slow way.
   */
  private async claim(spare: string, instanceId: string): Promise<Attachment | null> {
    try {
      const address = await this.allocator.rekey(spare, instanceId);
      await writeFile(`/sys/class/net/${this.vethName(address)}/ifalias`, instanceId);
      return this.attachment(address);
    } catch (err) {
      this.warn(`handing spare network namespace ${spare} to ${instanceId} failed, making one instead: ${(err as Error).message}`);
      await this.remove(spare);
      await this.remove(instanceId);
      return null;
    }
  }

  /** A spare: namespace, veth and address, exactly as an instance's, leased to its key. */
  private async makeSpare(key: string): Promise<void> {
    try {
      const address = await this.allocator.lease(key);
      await this.removeLinks(address);
      await this.plumb(address, key);
    } catch (err) {
      await this.remove(key);
      throw err;
    }
  }

  /** Two `ip -batch` runs instead of ~10 ip invocations, and the port's element in the source guard. */
  private async plumb(address: string, alias: string): Promise<void> {
    const ns = this.netnsName(address);
    const port = this.port(address);
    const veth = port.veth;
    await exec(["ip", "-batch", "-"], {
      input: [
        `netns add ${ns}`,
        `link add ${veth} type veth peer name eth0 address ${port.mac} netns ${ns}`,
        `link set dev ${veth} alias ${alias}`,
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
    await allowSource(this.bridge, port);
  }

  /** Removes the namespace, veth and lease held by an instance id or a spare key; idempotent. */
  private async remove(key: string): Promise<void> {
    const leased = (await this.allocator.leases())[key];
    if (!leased) return;
    await this.removeLinks(leased);
    await forgetSource(this.bridge, this.port(leased));
    // The address may be leased again later to a veth with another MAC: forget the old neighbour now.
    // Not fatal (exit 1/2): the bridge may already be gone, and then so is its neighbour table.
    await exec(["ip", "neigh", "flush", "to", leased, "dev", this.bridge], { okCodes: [0, 1, 2] });
    await this.allocator.release(key);
  }

  private async isAttached(address: string): Promise<boolean> {
    if (!(await pathExists(`/run/netns/${this.netnsName(address)}`)) || !(await linkExists(this.vethName(address)))) return false;
    const shown = await exec(["ip", "-n", this.netnsName(address), "-o", "-4", "addr", "show", "dev", "eth0"], { okCodes: [0, 1] });
    return shown.stdout.includes(` ${address}/`);
  }

  private async removeLinks(address: string): Promise<void> {
    // Deleting the namespace destroys eth0 and with it the host end of the pair; the explicit link delete
    // covers a crash between `link add` and moving the peer.
    const ns = this.netnsName(address);
    if (await pathExists(`/run/netns/${ns}`)) await exec(["ip", "netns", "delete", ns]);
    const veth = this.vethName(address);
    if (!(await linkExists(veth))) return;
    // The kernel removes a deleted namespace's devices in its own time (cleanup_net is deferred), so the
    // host end may vanish between the check and the delete ("No such device", exit 2): gone is what we want.
    await exec(["ip", "link", "delete", veth], { okCodes: [0, 1] }).catch(async (err: unknown) => {
      if (await linkExists(veth)) throw err;
    });
  }
}

/** Instance ids become interface aliases and ip(8) batch words: keep them plain. */
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

async function listVeths(): Promise<string[]> {
  const out = await exec(["ip", "-j", "link", "show", "type", "veth"]);
  const links = JSON.parse(out.stdout || "[]") as Array<{ ifname: string }>;
  return links.map((l) => l.ifname);
}
