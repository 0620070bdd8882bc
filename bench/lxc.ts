/**
 * LXC benchmark: cold start (start() called → first HTTP 200) of the lxc driver beside the runc driver,
 * alternated start by start in the same run (same conformance image, same host network, same limits), and
 * podman run after them; and the memory an idle LXC instance costs: its holder's and lxc-execute's PSS
 * plus what its cgroup is charged, over 10 idle instances.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataHome } from "../src/home.js";
import { HostNetwork } from "../src/net/index.js";
import { conformanceImage } from "../src/sandbox/conformance/index.js";
import type { Instance, InstanceSpec, Prepared, SandboxDriver } from "../src/sandbox/driver.js";
import { LxcDriver } from "../src/sandbox/lxc/index.js";
import { OciDriver } from "../src/sandbox/oci/index.js";
import { benchPodman, firstOk, pssOf } from "./container.js";
import { median, percentile, type BenchRow } from "./measure.js";

const COLD_STARTS = 15;
const IDLE_INSTANCES = 10;

function spec(id: string): InstanceSpec {
  return {
    instanceId: id, app: "bench", version: "v1", port: 8080, env: { PORT: "8080" },
    limits: { memoryMb: 128, cpuMillis: 1000, pids: 128 },
  };
}

async function coldStart(driver: SandboxDriver, prepared: Prepared, id: string): Promise<number> {
  const io = { log: () => undefined };
  const t0 = performance.now();
  const instance = await driver.start(prepared, spec(id), io);
  const ep = instance.endpoint as { host: string; port: number };
  await firstOk(ep.host, ep.port);
  const ms = performance.now() - t0;
  await driver.stop(instance, 0);
  return ms;
}

async function benchDrivers(root: string): Promise<BenchRow[]> {
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabenchl0", subnet: "10.233.13.0/24" });
  await network.ensure();
  const lxc = new LxcDriver({ home, network });
  const runc = new OciDriver({ home, runtime: "runc", network });
  const live: Instance[] = [];
  try {
    const image = await conformanceImage();
    const lxcPrepared = await lxc.prepare(image, spec("bench-prep"));
    const runcPrepared = await runc.prepare(image, spec("bench-prep"));
    const lxcTimes: number[] = [];
    const runcTimes: number[] = [];
    for (let i = 0; i < COLD_STARTS; i++) {
      lxcTimes.push(await coldStart(lxc, lxcPrepared, `bench-lxc-cold-${i}`));
      runcTimes.push(await coldStart(runc, runcPrepared, `bench-runc-cold-${i}`));
    }

    for (let i = 0; i < IDLE_INSTANCES; i++) {
      const instance = await lxc.start(lxcPrepared, spec(`bench-lxc-idle-${i}`), { log: () => undefined });
      live.push(instance);
      const ep = instance.endpoint as { host: string; port: number };
      await firstOk(ep.host, ep.port);
    }
    await sleep(2000); // let start-up garbage settle
    const holders = median(await pssOf("holder.sh .*bench-lxc-idle-"));
    const monitors = median(await pssOf("^lxc-execute -n bench-lxc-idle-"));
    let charged = 0;
    for (const instance of live) {
      charged += Number(await readFile(`/sys/fs/cgroup/memory/strata/${home.tag}/lxc/${instance.id}/memory.usage_in_bytes`, "utf8"));
    }
    const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
    return [
      { name: "lxc cold start (start → first 200), median", value: Math.round(median(lxcTimes)), unit: "ms", peer: `runc in the same run: ${Math.round(median(runcTimes))} ms` },
      { name: "lxc cold start, p99", value: Math.round(percentile(lxcTimes, 99)), unit: "ms", peer: `runc: ${Math.round(percentile(runcTimes, 99))} ms` },
      { name: "runc cold start (same run, alternated), median", value: Math.round(median(runcTimes)), unit: "ms" },
      { name: "memory per idle lxc instance (holder + lxc-execute PSS + cgroup usage)", value: mib(holders + monitors + charged / IDLE_INSTANCES), unit: "MiB" },
      { name: "  of which holder sh (PSS)", value: mib(holders), unit: "MiB" },
      { name: "  of which lxc-execute monitor (PSS)", value: mib(monitors), unit: "MiB" },
    ];
  } finally {
    for (const instance of live) await lxc.stop(instance, 0);
    await lxc.sweep(new Set());
    await runc.sweep(new Set());
    await lxc.close();
    await runc.close();
    await network.teardown();
  }
}

export async function benchLxc(): Promise<BenchRow[]> {
  const root = await mkdtemp(join("/var/tmp", "strata-bench-lxc-"));
  try {
    return [...(await benchDrivers(root)), ...(await benchPodman())];
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
