/**
 * The microvm driver (QEMU microvm; TCG on this host) beside runc, for the same small app in the same run
 * (the conformance busybox image serving a file with httpd): cold start (start() called → first HTTP
 * 200) and start restored from a snapshot of the version's first instance, medians and p99 of 10 each;
 * the memory cgroup charge (the VMM with the guest's RAM) of an idle booted and an idle restored
 * instance. Targets (issue 14, TCG): cold <= 2.5 s, restore <= 500 ms.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataHome } from "../src/home.js";
import { HostNetwork } from "../src/net/index.js";
import { conformanceImage } from "../src/sandbox/conformance/index.js";
import type { ImageRef, InstanceSpec, Prepared, SandboxDriver } from "../src/sandbox/driver.js";
import { MicrovmDriver } from "../src/sandbox/microvm/index.js";
import { OciDriver } from "../src/sandbox/oci/index.js";
import { median, percentile, type BenchRow } from "./measure.js";

const STARTS = 10;
const io = { log: () => undefined };

function spec(id: string): InstanceSpec {
  return {
    instanceId: id, app: "bench-mv", version: "v1", port: 8080, env: { PORT: "8080" },
    limits: { memoryMb: 64, cpuMillis: 1000, pids: 64 },
    command: ["/bin/sh", "-c", "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"],
  };
}

function get(host: string, port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: "/", timeout: 1000, headers: { connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
}

/** Polls every 2 ms (bounded to 60 s) so polling adds little to what is measured. */
async function firstOk(endpoint: unknown): Promise<void> {
  const { host, port } = endpoint as { host: string; port: number };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if ((await get(host, port)) === 200) return;
    await sleep(2);
  }
  throw new Error(`no HTTP 200 from ${host}:${port} within 60 s`);
}

/** start() → first 200, STARTS times, each instance stopped before the next. */
async function starts(driver: SandboxDriver, prepared: Prepared<unknown>, tag: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const t0 = performance.now();
    const instance = await driver.start(prepared, spec(`bench-${tag}-${i}`), io);
    try {
      await firstOk(instance.endpoint);
      times.push(performance.now() - t0);
    } finally {
      await driver.stop(instance, 0);
    }
  }
  return times;
}

/** The memory cgroup charge of one idle instance, 2 s after its first 200. */
async function idleBytes(driver: SandboxDriver, prepared: Prepared<unknown>, id: string): Promise<number> {
  const instance = await driver.start(prepared, spec(id), io);
  try {
    await firstOk(instance.endpoint);
    await sleep(2000);
    const state = await driver.inspect(instance);
    return state.status === "running" ? (state.memoryBytes ?? 0) : 0;
  } finally {
    await driver.stop(instance, 0);
  }
}

export async function benchMicrovm(): Promise<BenchRow[]> {
  const root = await mkdtemp(join("/var/tmp", "strata-bench-microvm-"));
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabenchmv0", subnet: "10.233.12.0/24" });
  const booted = new MicrovmDriver({ home, network });
  const snapshotting = new MicrovmDriver({ home, network, snapshots: true });
  const runc = new OciDriver({ home, runtime: "runc", network });
  try {
    const probe = await booted.probe();
    if (!probe.available) throw new Error(`microvm unavailable: ${probe.reason}`);
    await network.ensure();
    const image: ImageRef = await conformanceImage();
    const rc = await starts(runc, await runc.prepare(image, spec("bench-rc-prep")), "rc");
    const cold = await starts(booted, await booted.prepare(image, spec("bench-mv-prep")), "mv");
    const coldIdle = await idleBytes(booted, await booted.prepare(image, spec("bench-mv-prep")), "bench-mv-idle");

    // The version's first instance is snapshotted once it listens; the restores then start from it.
    const prepared = await snapshotting.prepare(image, spec("bench-ms-prep"));
    const first = await snapshotting.start(prepared, spec("bench-ms-first"), io);
    const t0 = performance.now();
    await firstOk(first.endpoint);
    const snapDir = join(root, "cache", "microvm-snapshots");
    const hasSnapshot = async () => (await readdir(snapDir, { recursive: true }).catch(() => [] as string[])).some((f) => f.endsWith(".vmstate"));
    for (let i = 0; i < 600 && !(await hasSnapshot()); i++) await sleep(20);
    const snapshotMs = performance.now() - t0;
    await snapshotting.stop(first, 0);
    if (!(await hasSnapshot())) throw new Error("no snapshot of the first instance within 12 s");
    const restored = await starts(snapshotting, prepared, "ms");
    const restoredIdle = await idleBytes(snapshotting, prepared, "bench-ms-idle");
    await snapshotting.release(prepared);

    const ms = (x: number) => Math.round(x);
    const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
    return [
      { name: `microvm backend: ${probe.details?.backend ?? "?"}`, value: 0, unit: "-" },
      { name: "runc cold start (start → first 200), median", value: ms(median(rc)), unit: "ms" },
      { name: "runc cold start, p99", value: ms(percentile(rc, 99)), unit: "ms" },
      { name: "microvm cold start (start → first 200), median [target <= 2500 ms on TCG]", value: ms(median(cold)), unit: "ms", peer: `runc ${ms(median(rc))} ms` },
      { name: "microvm cold start, p99", value: ms(percentile(cold, 99)), unit: "ms", peer: `runc ${ms(percentile(rc, 99))} ms` },
      { name: "microvm restore from snapshot (start → first 200), median [target <= 500 ms on TCG]", value: ms(median(restored)), unit: "ms", peer: `microvm cold ${ms(median(cold))} ms` },
      { name: "microvm restore from snapshot, p99", value: ms(percentile(restored, 99)), unit: "ms", peer: `microvm cold ${ms(percentile(cold, 99))} ms` },
      { name: "microvm snapshot on disk (first 200 → .vmstate written; includes the guest's pause)", value: ms(snapshotMs), unit: "ms" },
      { name: "microvm idle booted instance, memory cgroup (VMM + guest RAM touched)", value: mib(coldIdle), unit: "MiB" },
      { name: "microvm idle restored instance, memory cgroup", value: mib(restoredIdle), unit: "MiB", peer: `booted ${mib(coldIdle)} MiB` },
    ];
  } finally {
    // starts() and idleBytes() stop every instance they start; the sweeps clear what an error left (this home's only).
    for (const d of [booted, snapshotting]) await d.sweep(new Set());
    await runc.sweep(new Set());
    for (const d of [booted, snapshotting]) await d.close();
    await runc.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
}
