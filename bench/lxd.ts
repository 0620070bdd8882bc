/**
 * LXD system containers beside runc, in the same run and with the same image (the conformance busybox
 * httpd): cold start (start() called → first HTTP 200 from the app, through each driver's own path:
 * LXD's REST API creating and starting an instance from an already imported image; runc through conmon),
 * median of 10; and memory per idle instance over 5: the instance's memory cgroup charge as each driver
 * reports it (inspect()), plus the per-instance holder's PSS (LXD: its `[lxc monitor]` process; runc: conmon).
 * The LXD daemon itself (one per host) is not counted per instance.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataHome } from "../src/home.js";
import { HostNetwork } from "../src/net/index.js";
import { conformanceImage } from "../src/sandbox/conformance/index.js";
import { waitForHttp } from "../src/sandbox/conformance/helpers.js";
import type { Instance, InstanceSpec, SandboxDriver } from "../src/sandbox/driver.js";
import { LxdDriver } from "../src/sandbox/lxd/index.js";
import { OciDriver } from "../src/sandbox/oci/index.js";
import { pssOf } from "./container.js";
import { median, percentile, type BenchRow } from "./measure.js";

const COLD_STARTS = 10;
const IDLE_INSTANCES = 5;

function spec(id: string): InstanceSpec {
  return { instanceId: id, app: "bench", version: "v1", port: 8080, env: { PORT: "8080" }, limits: { memoryMb: 128, cpuMillis: 1000, pids: 128 } };
}


async function measure(name: string, driver: SandboxDriver, holder: (prefix: string) => string): Promise<BenchRow[]> {
  const io = { log: () => undefined };
  const prepared = await driver.prepare(await conformanceImage(), spec(`b-${name}-prep`));
  const times: number[] = [];
  for (let i = 0; i < COLD_STARTS; i++) {
    const t0 = performance.now();
    const instance = await driver.start(prepared, spec(`b-${name}-cold-${i}`), io);
    await waitForHttp(instance.endpoint, "/", 60_000);
    times.push(performance.now() - t0);
    await driver.stop(instance, 0);
  }
  const live: Instance[] = [];
  try {
    for (let i = 0; i < IDLE_INSTANCES; i++) {
      const instance = await driver.start(prepared, spec(`b-${name}-idle-${i}`), io);
      live.push(instance);
      await waitForHttp(instance.endpoint, "/", 60_000);
    }
    await sleep(3000); // let start-up settle
    let charged = 0;
    for (const instance of live) {
      const s = await driver.inspect(instance);
      if (s.status === "running") charged += s.memoryBytes ?? 0;
    }
    const holderPss = median(await pssOf(holder(`b-${name}-idle-`)));
    const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
    return [
      { name: `${name} cold start (start → first 200), median`, value: Math.round(median(times)), unit: "ms" },
      { name: `${name} cold start, p99`, value: Math.round(percentile(times, 99)), unit: "ms" },
      { name: `${name} memory per idle instance (holder PSS + cgroup charge)`, value: mib(holderPss + charged / IDLE_INSTANCES), unit: "MiB" },
      { name: `  of which the holder (${name === "lxd" ? "[lxc monitor]" : "conmon"}) PSS`, value: mib(holderPss), unit: "MiB" },
    ];
  } finally {
    for (const instance of live) await driver.stop(instance, 0);
  }
}

export async function benchLxd(): Promise<BenchRow[]> {
  const root = await mkdtemp(join("/var/tmp", "strata-bench-lxd-"));
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabenchx0", subnet: "10.233.3.0/24" });
  await network.ensure();
  const lxd = new LxdDriver({ home, network });
  const runc = new OciDriver({ home, runtime: "runc", network });
  try {
    const lxdRows = await measure("lxd", lxd, (p) => `lxc monitor.* ${p}`);
    const runcRows = await measure("runc", runc, (p) => `conmon .*--cid ${p}`);
    return [...lxdRows, ...runcRows];
  } finally {
    await lxd.sweep(new Set());
    await lxd.close();
    await runc.sweep(new Set());
    await runc.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
}
