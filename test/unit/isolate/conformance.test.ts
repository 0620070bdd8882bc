import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { build } from "../../../src/build/isolate/index.js";
import { StrataHome } from "../../../src/home.js";
import { runConformance } from "../../../src/sandbox/conformance/index.js";
import { IsolateDriver } from "../../../src/sandbox/isolate/index.js";
import { FIXTURES } from "./helpers.js";

const root = await mkdtemp(join(tmpdir(), "strata-iso-conformance-"));
const home = new StrataHome(root);
const drivers: IsolateDriver[] = [];

after(async () => {
  for (const d of drivers) await d.close();
  await rm(root, { recursive: true, force: true });
});

runConformance({
  name: "isolate",
  makeDriver: () => {
    // A generous CPU budget, so the memory test meets the memory limit rather than the CPU one.
    const d = new IsolateDriver({ home, cpuMsPerRequest: 10_000 });
    drivers.push(d);
    return d;
  },
  image: () => build(join(FIXTURES, "isolate-conformance"), { outDir: join(home.builds, "conformance") }),
});
