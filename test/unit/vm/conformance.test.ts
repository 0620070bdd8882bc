import { conformanceImage, runConformance } from "../../../src/sandbox/conformance/index.js";
import { VmDriver } from "../../../src/sandbox/vm/index.js";
import { driverHome } from "../../support/driver-home.js";
import { expectedGuestEnv } from "../../support/guest-env.js";

const { home, network } = await driverHome({
  prefix: "vm", bridge: "stratavm0", subnet: "10.233.44.0/24",
  makeDriver: ({ home, network }) => new VmDriver({ home, network }),
});

runConformance({
  name: "vm",
  makeDriver: () => new VmDriver({ home, network }),
  image: () => conformanceImage(),
  hostAddress: network.gateway,
  envDefaults: expectedGuestEnv,
});
