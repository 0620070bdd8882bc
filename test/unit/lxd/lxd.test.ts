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
  // Issue 16, open: an app in an LXD container runs as the container's init, whose console merges stdout
  // and stderr and whose exit status LXD does not keep; lxc.init.cmd splits its arguments at spaces, so the
  // limit tests' shell scripts never run.
  knownGaps: {
    "starts, answers HTTP, reports running, stops, and is gone (stop is idempotent)": "LXD's console merges stdout and stderr",
    "reports the app's exit code": "LXD keeps no exit status of a container's init",
    "pushes an exit it did not cause to InstanceIO.exited, and none for stop()": "LXD keeps no exit status of a container's init",
    "kills an app that allocates past its memory limit and says oom-killed": "lxc.init.cmd splits the test's shell script at spaces",
    "stops a fork bomb at the pids limit and keeps the host responsive": "lxc.init.cmd splits the test's shell script at spaces",
  },
});
