import { StrataError } from "../errors.js";

/** An IPv4 subnet in CIDR form, with the arithmetic the allocator needs. */
export interface Subnet {
  readonly cidr: string;
  readonly network: number;
  readonly prefix: number;
  /** First usable address: the host's own address on the bridge (the instances' default gateway). */
  readonly gateway: string;
  /** Lowest and highest address an instance may get. */
  readonly first: number;
  readonly last: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split(".");
  if (parts.length !== 4) throw new StrataError("INVALID_ARGUMENT", `"${ip}" is not an IPv4 address`);
  let n = 0;
  for (const p of parts) {
    const octet = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
    if (!(octet >= 0 && octet <= 255)) throw new StrataError("INVALID_ARGUMENT", `"${ip}" is not an IPv4 address`);
    n = n * 256 + octet;
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function parseSubnet(cidr: string): Subnet {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr);
  const prefix = m ? Number(m[2]) : NaN;
  // /30 is the smallest subnet with a gateway and one instance; /8 keeps leases.json reasonable.
  if (!m || !(prefix >= 8 && prefix <= 30)) {
    throw new StrataError("INVALID_ARGUMENT", `instance subnet "${cidr}" must be an IPv4 CIDR between /8 and /30, e.g. 10.231.0.0/16`);
  }
  const size = 2 ** (32 - prefix);
  const network = ipToInt(m[1]!) - (ipToInt(m[1]!) % size);
  return {
    cidr: `${intToIp(network)}/${prefix}`,
    network,
    prefix,
    gateway: intToIp(network + 1),
    first: network + 2,
    last: network + size - 2, // network + size - 1 is the broadcast address
  };
}

export function contains(subnet: Subnet, ip: string): boolean {
  const n = ipToInt(ip);
  return n >= subnet.first && n <= subnet.last;
}

/**
 * An instance's MAC, a function of its address as its veth and guard element are: locally administered
 * unicast (02), then 53 and the four octets. Its veth's inner end has it, and so does a VM guest's NIC.
 */
export function macForAddress(address: string): string {
  const octets = address.split(".").map((o) => Number(o).toString(16).padStart(2, "0"));
  return ["02", "53", ...octets].join(":");
}
