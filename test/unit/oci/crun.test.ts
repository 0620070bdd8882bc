import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import { conformanceImage, runConformance } from "../../../src/sandbox/conformance/index.js";
import { OciDriver } from "../../../src/sandbox/oci/index.js";

// On a hybrid-cgroup host crun's probe says why it cannot run, and every test skips with that reason.
const root = await mkdtemp(join("/var/tmp", "strata-crun-"));
const home = new StrataHome(root);
const network = new HostNetwork(home, { bridge: "stratacrun0", subnet: "10.233.1.0/24" });

after(async () => {
  await network.teardown();
  await rm(root, { recursive: true, force: true });
});

runConformance({
  name: "crun",
  makeDriver: async () => {
    const driver = new OciDriver({ home, runtime: "crun", network });
    if ((await driver.probe()).available) await network.ensure();
    return driver;
  },
  image: () => conformanceImage(),
  hostAddress: network.gateway,
});
