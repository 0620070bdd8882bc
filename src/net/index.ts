/** Instance networking on the host: bridge, per-instance namespaces and veths, addresses, egress policy. */
export { HostNetwork } from "./host-network.js";
export type { Attachment, HostNetworkOptions } from "./host-network.js";
export { IpAllocator } from "./ip-allocator.js";
export { parseSubnet, ipToInt, intToIp, macForAddress } from "./subnet.js";
export type { Subnet } from "./subnet.js";
export { rulesetFor, VETH_PREFIX } from "./firewall.js";
