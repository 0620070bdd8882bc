/**
 * kata benchmark: cold start (start() called → first HTTP 200) of the kata driver (an OCI container run by
 * the guest agent inside a QEMU microvm guest) beside the microvm driver (the image as the guest's own
 * workload), alternated start by start in the same run: same conformance image, kernel, initramfs, host
 * network and limits. The difference is the agent's container set-up (storage mount, overlay, namespaces,
 * mounts, user) on top of the same boot.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { StrataHome } from "../src/home.js";
import { HostNetwork } from "../src/net/index.js";
import { conformanceImage } from "../src/sandbox/conformance/index.js";
import type { InstanceSpec, Prepared, SandboxDriver } from "../src/sandbox/driver.js";
import { KataDriver } from "../src/sandbox/kata/index.js";
import { MicrovmDriver } from "../src/sandbox/microvm/index.js";
import { firstOk } from "./container.js";
import { median, percentile, type BenchRow } from "./measure.js";

const COLD_STARTS = 7;

function spec(id: string): InstanceSpec {
  return {
    instanceId: id, app: "bench", version: "v1", port: 8080, env: { PORT: "8080" },
    limits: { memoryMb: 128, cpuMillis: 1000, pids: 128 },
  };
}

async function coldStart(driver: SandboxDriver, prepared: Prepared, id: string): Promise<number> {
  const t0 = performance.now();
  const instance = await driver.start(prepared, spec(id), { log: () => undefined });
  try {
    const ep = instance.endpoint as { host: string; port: number };
    await firstOk(ep.host, ep.port);
    return performance.now() - t0;
  } finally {
    await driver.stop(instance, 0);
  }
}

export async function benchKata(): Promise<BenchRow[]> {
  const root = await mkdtemp(join("/var/tmp", "strata-bench-kata-"));
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabenchk0", subnet: "10.233.15.0/24" });
  await network.ensure();
  const kata = new KataDriver({ home, network });
  const microvm = new MicrovmDriver({ home, network });
  try {
    const probe = await kata.probe();
    if (!probe.available) throw new Error(`kata cannot run here: ${probe.reason}`);
    const image = await conformanceImage();
    const kataPrepared = await kata.prepare(image, spec("bench-prep"));
    const mvPrepared = await microvm.prepare(image, spec("bench-prep"));
    const kataTimes: number[] = [];
    const mvTimes: number[] = [];
    for (let i = 0; i < COLD_STARTS; i++) {
      kataTimes.push(await coldStart(kata, kataPrepared, `bench-kata-cold-${i}`));
      mvTimes.push(await coldStart(microvm, mvPrepared, `bench-mv-cold-${i}`));
    }
    const how = probe.details?.uses ?? "";
    return [
      { name: `kata cold start (start → first 200), median; ${how}`, value: Math.round(median(kataTimes)), unit: "ms", peer: `microvm in the same run: ${Math.round(median(mvTimes))} ms` },
      { name: "kata cold start, p99", value: Math.round(percentile(kataTimes, 99)), unit: "ms", peer: `microvm: ${Math.round(percentile(mvTimes, 99))} ms` },
      { name: "microvm cold start (same run, alternated), median", value: Math.round(median(mvTimes)), unit: "ms" },
    ];
  } finally {
    await kata.sweep(new Set());
    await microvm.sweep(new Set());
    await kata.close();
    await microvm.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
}
