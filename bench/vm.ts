/**
 * Full-VM benchmark: cold start (start() called → first HTTP 200) of the vm driver (a QEMU q35 PC) beside
 * the microvm driver (QEMU microvm), alternated start by start in the same run: the same conformance image,
 * guest kernel and init, host network and limits, and the same accelerator (KVM only where the trial runs a
 * guest, else TCG). Also one pc (i440FX) start, and the graceful stop (ACPI power button → app exit). Then,
 * with snapshots on, each driver's restore (start() called → first 200 of a VM restored from the snapshot
 * of its version's first instance), alternated between the two.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataHome } from "../src/home.js";
import { HostNetwork } from "../src/net/index.js";
import { conformanceImage } from "../src/sandbox/conformance/index.js";
import type { InstanceSpec, Prepared, SandboxDriver } from "../src/sandbox/driver.js";
import { MicrovmDriver } from "../src/sandbox/microvm/index.js";
import { VmDriver } from "../src/sandbox/vm/index.js";
import { firstOk } from "./container.js";
import { median, percentile, type BenchRow } from "./measure.js";

const COLD_STARTS = 5;
const RESTORES = 5;

function spec(id: string, vm?: InstanceSpec["vm"]): InstanceSpec {
  return {
    instanceId: id, app: "bench", version: "v1", port: 8080, env: { PORT: "8080" },
    limits: { memoryMb: 128, cpuMillis: 1000, pids: 128 }, ...(vm && { vm }),
  };
}

/** Start → first 200, then the stop (graceful with `graceMs` > 0), both in ms. */
async function coldStart(driver: SandboxDriver, prepared: Prepared, s: InstanceSpec, graceMs = 0): Promise<{ start: number; stop: number }> {
  const t0 = performance.now();
  const instance = await driver.start(prepared, s, { log: () => undefined });
  const ep = instance.endpoint as { host: string; port: number };
  await firstOk(ep.host, ep.port);
  const start = performance.now() - t0;
  const t1 = performance.now();
  await driver.stop(instance, graceMs);
  return { start, stop: performance.now() - t1 };
}

/** Starts the version's first instance, waits (bounded) for its snapshot under `snapDir`, and stops it. */
async function firstSnapshot(driver: SandboxDriver, prepared: Prepared, s: InstanceSpec, snapDir: string): Promise<void> {
  const instance = await driver.start(prepared, s, { log: () => undefined });
  try {
    const ep = instance.endpoint as { host: string; port: number };
    await firstOk(ep.host, ep.port);
    const has = async () => (await readdir(snapDir, { recursive: true }).catch(() => [] as string[])).some((f) => f.endsWith(".vmstate"));
    for (let i = 0; i < 600 && !(await has()); i++) await sleep(100);
    if (!(await has())) throw new Error(`${driver.name}: no snapshot of the first instance within 60 s`);
  } finally {
    await driver.stop(instance, 0);
  }
}

/** Start → first 200 of an instance that must come from the snapshot. */
async function restoreStart(driver: SandboxDriver, prepared: Prepared, s: InstanceSpec): Promise<number> {
  const t0 = performance.now();
  const instance = await driver.start(prepared, s, { log: () => undefined });
  try {
    if (!instance.detail?.includes("restored")) throw new Error(`${driver.name} booted ${s.instanceId} instead of restoring it`);
    const ep = instance.endpoint as { host: string; port: number };
    await firstOk(ep.host, ep.port);
    return performance.now() - t0;
  } finally {
    await driver.stop(instance, 0);
  }
}

export async function benchVm(): Promise<BenchRow[]> {
  const root = await mkdtemp(join("/var/tmp", "strata-bench-vm-"));
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabenchv0", subnet: "10.233.46.0/24" });
  await network.ensure();
  const vm = new VmDriver({ home, network });
  const microvm = new MicrovmDriver({ home, network });
  const vmSnap = new VmDriver({ home, network, snapshots: true });
  const microvmSnap = new MicrovmDriver({ home, network, snapshots: true });
  try {
    for (const d of [vm, microvm]) {
      const probe = await d.probe();
      if (!probe.available) throw new Error(`${d.name} cannot run here: ${probe.reason}`);
    }
    const backend = (await vm.probe()).details?.backend ?? "";
    const image = await conformanceImage();
    const vmPrepared = await vm.prepare(image, spec("bench-prep"));
    const mvPrepared = await microvm.prepare(image, spec("bench-prep"));
    const vmTimes: number[] = [];
    const mvTimes: number[] = [];
    const stops: number[] = [];
    for (let i = 0; i < COLD_STARTS; i++) {
      const v = await coldStart(vm, vmPrepared, spec(`bench-vm-cold-${i}`), 30_000);
      vmTimes.push(v.start);
      stops.push(v.stop);
      mvTimes.push((await coldStart(microvm, mvPrepared, spec(`bench-mv-cold-${i}`))).start);
    }
    const pc = await coldStart(vm, vmPrepared, spec("bench-vm-pc", { machine: "pc" }));

    const vmSnapPrepared = await vmSnap.prepare(image, spec("bench-prep"));
    const mvSnapPrepared = await microvmSnap.prepare(image, spec("bench-prep"));
    await firstSnapshot(vmSnap, vmSnapPrepared, spec("bench-vm-first"), join(root, "cache", "vm-snapshots"));
    await firstSnapshot(microvmSnap, mvSnapPrepared, spec("bench-mv-first"), join(root, "cache", "microvm-snapshots"));
    const vmRestores: number[] = [];
    const mvRestores: number[] = [];
    for (let i = 0; i < RESTORES; i++) {
      vmRestores.push(await restoreStart(vmSnap, vmSnapPrepared, spec(`bench-vm-restore-${i}`)));
      mvRestores.push(await restoreStart(microvmSnap, mvSnapPrepared, spec(`bench-mv-restore-${i}`)));
    }
    await vmSnap.release(vmSnapPrepared);
    await microvmSnap.release(mvSnapPrepared);
    return [
      { name: `vm cold start, q35 (start → first 200), median of ${COLD_STARTS}`, value: Math.round(median(vmTimes)), unit: "ms", peer: `microvm in the same run: ${Math.round(median(mvTimes))} ms (${backend})` },
      { name: "vm cold start, q35, p99", value: Math.round(percentile(vmTimes, 99)), unit: "ms", peer: `microvm: ${Math.round(percentile(mvTimes, 99))} ms` },
      { name: "microvm cold start (same run, alternated), median", value: Math.round(median(mvTimes)), unit: "ms" },
      { name: "vm cold start, pc (i440FX), one start", value: Math.round(pc.start), unit: "ms" },
      { name: "vm graceful stop (ACPI power button → app exits → VM gone), median", value: Math.round(median(stops)), unit: "ms" },
      { name: `vm restore from snapshot, q35 (start → first 200), median of ${RESTORES}`, value: Math.round(median(vmRestores)), unit: "ms", peer: `microvm restore in the same run: ${Math.round(median(mvRestores))} ms; vm cold ${Math.round(median(vmTimes))} ms` },
      { name: "vm restore from snapshot, q35, p99", value: Math.round(percentile(vmRestores, 99)), unit: "ms", peer: `microvm: ${Math.round(percentile(mvRestores, 99))} ms` },
      { name: "microvm restore from snapshot (same run, alternated), median", value: Math.round(median(mvRestores)), unit: "ms", peer: `microvm cold ${Math.round(median(mvTimes))} ms` },
    ];
  } finally {
    for (const d of [vm, microvm, vmSnap, microvmSnap]) await d.sweep(new Set());
    for (const d of [vm, microvm, vmSnap, microvmSnap]) await d.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
}
