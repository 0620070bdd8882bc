import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import { conformanceImage, runConformance } from "../../../src/sandbox/conformance/index.js";
import { XenDriver } from "../../../src/sandbox/xen/index.js";

// The conformance suite for xen. Off a dom0 (as here: no /proc/xen) its probe and lifecycle tests skip
// with the probe's reason; on a dom0 they run against real Xen guests.
const root = await mkdtemp(join("/var/tmp", "strata-xen-"));
const home = new StrataHome(root);
const network = new HostNetwork(home, { bridge: "strataxn0", subnet: "10.233.48.0/24" });
const dom0 = (await new XenDriver({ home, network }).probe()).available;
if (dom0) await network.ensure();

after(async () => {
  const driver = new XenDriver({ home, network });
  try {
    if (dom0) await driver.sweep(new Set());
  } finally {
    await driver.close();
    if (dom0) await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
});

runConformance({
  name: "xen",
  makeDriver: () => new XenDriver({ home, network }),
  image: () => conformanceImage(),
  hostAddress: network.gateway,
});
