import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchRow } from "./measure.js";
import { benchRouter } from "./router.js";
import { benchIsolate } from "./isolate.js";
import { benchNodeCompat } from "./node-compat.js";
import { benchContainer } from "./container.js";
import { benchBuild } from "./build.js";
import { benchDockerfile } from "./dockerfile.js";
import { benchScaling } from "./scaling.js";
import { benchWorkerd } from "./workerd.js";
import { benchGvisor } from "./gvisor.js";
import { benchLxc } from "./lxc.js";
import { benchLxd } from "./lxd.js";
import { benchFunctions } from "./functions.js";
import { benchVm } from "./vm.js";
import { benchMicrovm, benchMicrovmSmall } from "./microvm.js";
import { benchSnapshotUniqueness } from "./snapshot-uniqueness.js";
import { benchKata } from "./kata.js";
import { benchJavaVm } from "./java-vm.js";

/**
 * `npm run bench [-- name ...]`: runs the benchmarks (all, or those named), prints a table and writes it to
 * bench/results/<date>.md. Each figure stands beside its peer measured in the same run.
 */
const SUITES: Record<string, () => Promise<BenchRow[]>> = {
  router: benchRouter,
  build: benchBuild,
  container: benchContainer,
  dockerfile: benchDockerfile,
  scaling: benchScaling,
  gvisor: benchGvisor,
  lxc: benchLxc,
  lxd: benchLxd,
  functions: benchFunctions,
  vm: benchVm,
  microvm: () => benchMicrovm(),
  "microvm-small": benchMicrovmSmall,
  "microvm-uniqueness": benchSnapshotUniqueness,
  kata: benchKata,
  "java-vm": benchJavaVm,
  isolate: async () => [...(await benchIsolate()), ...(await benchWorkerd())],
  "node-compat": benchNodeCompat,
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const names = wanted.length ? wanted : Object.keys(SUITES);
// The host is often shared: its load beside the figures says how far to trust them.
const load = () => loadavg().map((l) => l.toFixed(2)).join(", ");
const loadAtStart = load();
const sections: string[] = [];
for (const name of names) {
  const suite = SUITES[name];
  if (!suite) throw new Error(`no benchmark "${name}" (have: ${Object.keys(SUITES).join(", ")})`);
  console.error(`==> bench ${name}`);
  const rows = await suite();
  const lines = [`## ${name}`, "", "| measure | value | unit | compared with |", "|---|---:|---|---|", ...rows.map((r) => `| ${r.name} | ${r.value} | ${r.unit} | ${r.peer ?? ""} |`)];
  sections.push(lines.join("\n"));
  console.log(lines.join("\n") + "\n");
}
const dir = join(dirname(fileURLToPath(import.meta.url)), "results");
await mkdir(dir, { recursive: true });
const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, "-");
const file = join(dir, `${stamp}-${names.join("+")}.md`);
await writeFile(file, `# Strata benchmarks, ${new Date().toISOString()}\n\nHost: ${process.platform} ${process.arch}, ${cpus().length} CPUs, Node ${process.version}. Load average (1, 5, 15 min): ${loadAtStart} at the start, ${load()} at the end.\n\n${sections.join("\n\n")}\n`);
console.error(`wrote ${file}`);
