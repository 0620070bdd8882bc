import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import { conformanceImage, runConformance } from "../../../src/sandbox/conformance/index.js";
import { VmDriver } from "../../../src/sandbox/vm/index.js";

// Under /var/tmp like the runc test: root disks are cached under STRATA_HOME.
const root = await mkdtemp(join("/var/tmp", "strata-vm-"));
const home = new StrataHome(root);
const network = new HostNetwork(home, { bridge: "stratavm0", subnet: "10.233.44.0/24" });
await network.ensure();

after(async () => {
  const driver = new VmDriver({ home, network });
  try {
    if ((await driver.probe()).available) await driver.sweep(new Set());
  } finally {
    await driver.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
});

runConformance({
  name: "vm",
  makeDriver: () => new VmDriver({ home, network }),
  image: () => conformanceImage(),
  hostAddress: network.gateway,
});
