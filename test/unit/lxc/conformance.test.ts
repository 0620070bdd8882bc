import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import { conformanceImage, runConformance } from "../../../src/sandbox/conformance/index.js";
import { LxcDriver } from "../../../src/sandbox/lxc/index.js";

// Under /var/tmp, not a 0700 mkdtemp parent chain: the instances' mapped root must traverse STRATA_HOME.
const root = await mkdtemp(join("/var/tmp", "strata-lxc-"));
const home = new StrataHome(root);
const network = new HostNetwork(home, { bridge: "stratalxc0", subnet: "10.233.12.0/24" });
await network.ensure();

after(async () => {
  const driver = new LxcDriver({ home, network });
  await driver.sweep(new Set());
  await driver.close(); // removes the now empty parent cgroups
  await network.teardown();
  await rm(root, { recursive: true, force: true });
});

runConformance({
  name: "lxc",
  makeDriver: () => new LxcDriver({ home, network }),
  image: () => conformanceImage(),
  hostAddress: network.gateway,
});
