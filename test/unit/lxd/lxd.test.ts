import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import { conformanceImage, runConformance } from "../../../src/sandbox/conformance/index.js";
import { LxdDriver } from "../../../src/sandbox/lxd/index.js";

// Under /var/tmp: the LXD daemon this home owns keeps its LXD_DIR (and unix socket) inside it.
const root = await mkdtemp(join("/var/tmp", "strata-lxd-"));
const home = new StrataHome(root);
const network = new HostNetwork(home, { bridge: "strataxd0", subnet: "10.234.0.0/24" });
await network.ensure();

after(async () => {
  const driver = new LxdDriver({ home, network });
  if ((await driver.probe()).available) {
    await driver.sweep(new Set());
    await driver.close(); // the LXD daemon ends: no instance is left in it
  }
  await network.teardown();
  await rm(root, { recursive: true, force: true });
});

runConformance({
  name: "lxd",
  makeDriver: () => new LxdDriver({ home, network }),
  image: () => conformanceImage(),
  hostAddress: network.gateway,
});
