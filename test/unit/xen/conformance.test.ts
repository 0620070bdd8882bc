import { conformanceImage, runConformance } from "../../../src/sandbox/conformance/index.js";
import { XenDriver } from "../../../src/sandbox/xen/index.js";
import { driverHome } from "../../support/driver-home.js";

// The conformance suite for xen. Off a dom0 (as here: no /proc/xen) its probe and lifecycle tests skip
// with the probe's reason; on a dom0 they run against real Xen guests.
const { home, network } = await driverHome({
  prefix: "xen", bridge: "strataxn0", subnet: "10.233.48.0/24", ensure: false,
  makeDriver: ({ home, network }) => new XenDriver({ home, network }),
});
if ((await new XenDriver({ home, network }).probe()).available) await network.ensure();

runConformance({
  name: "xen",
  makeDriver: () => new XenDriver({ home, network }),
  image: () => conformanceImage(),
  hostAddress: network.gateway,
});
