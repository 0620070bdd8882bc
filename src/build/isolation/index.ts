/** Isolation shared by the builders' commands: a network namespace with outbound access only (slirp4netns). */
export { OutboundNetwork, SLIRP_DNS } from "./outbound-network.js";
