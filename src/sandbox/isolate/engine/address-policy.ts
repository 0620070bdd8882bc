import { BlockList, isIP } from "node:net";

/**
 * Addresses a tenant's outbound fetch may never reach: loopback, private, link-local, unique-local
 * and unspecified ranges (so a tenant cannot probe the host, the cloud metadata service or the LAN).
 */
const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet("0.0.0.0", 8, "ipv4");
FORBIDDEN.addSubnet("127.0.0.0", 8, "ipv4");
FORBIDDEN.addSubnet("10.0.0.0", 8, "ipv4");
FORBIDDEN.addSubnet("172.16.0.0", 12, "ipv4");
FORBIDDEN.addSubnet("192.168.0.0", 16, "ipv4");
FORBIDDEN.addSubnet("169.254.0.0", 16, "ipv4");
FORBIDDEN.addSubnet("100.64.0.0", 10, "ipv4"); // carrier-grade NAT, private in practice
FORBIDDEN.addAddress("255.255.255.255", "ipv4");
FORBIDDEN.addAddress("::", "ipv6");
FORBIDDEN.addAddress("::1", "ipv6");
FORBIDDEN.addSubnet("fc00::", 7, "ipv6");
FORBIDDEN.addSubnet("fe80::", 10, "ipv6");

/** Why `address` is refused, or null when a tenant may connect to it. */
export function forbiddenReason(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return `${address} is not an IP address`;
  let ip = address;
  let type: "ipv4" | "ipv6" = family === 4 ? "ipv4" : "ipv6";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) {
    ip = mapped[1];
    type = "ipv4";
  }
  return FORBIDDEN.check(ip, type) ? `${address} is a loopback, private, link-local or unspecified address` : null;
}
