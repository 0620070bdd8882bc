/**
 * gVisor beside runc, for the same Go app (examples/go-app built by the Go buildpack) in the same run:
 * cold start (start() called → first HTTP 200), median and p99 of 20; request latency over a keep-alive
 * connection (the median of 20 batch medians of 100 sequential GETs after a warm-up); throughput with wrk
 * (4 connections, 5 s) and the instance cgroup's CPU time per request under it; and the memory cgroup
 * charge of one idle instance. gVisor runs on the platform the
 * driver picks and, where that is not ptrace, on ptrace too for comparison; each with its own network stack
 * (the default) and the host's. Targets (issue 20): cold start <= 300 ms, p50 request latency <= 2x runc's,
 * throughput >= 0.3x runc's. Base images come from the store shared with the tests
 * (STRATA_BENCH_IMAGES, default /var/tmp/strata-test-images).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { GoBuilder } from "../src/build/go/builder.js";
import { StrataHome } from "../src/home.js";
import { ImageCatalog, imagePaths } from "../src/images/catalog.js";
import { OciLayout } from "../src/images/layout.js";
import { HostNetwork } from "../src/net/index.js";
import type { ImageRef, InstanceSpec, SandboxDriver } from "../src/sandbox/driver.js";
import { GvisorDriver } from "../src/sandbox/gvisor/index.js";
import { OciDriver } from "../src/sandbox/oci/index.js";
import { median, percentile, wrk, type BenchRow } from "./measure.js";

const COLD_STARTS = 20;
const BATCHES = 20;
const BATCH_REQUESTS = 100;
const EXAMPLE = new URL("../examples/go-app/", import.meta.url).pathname;

function spec(id: string): InstanceSpec {
  return {
    instanceId: id, app: "bench-go", version: "v1", port: 8080, env: { PORT: "8080", GAE_SERVICE: "default", GAE_VERSION: "v1" },
    limits: { memoryMb: 256, cpuMillis: 1000, pids: 128 },
  };
}

function get(host: string, port: number, agent?: Agent): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: "/", agent, timeout: 1000, headers: agent ? {} : { connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
}

/** Polls every 2 ms (bounded to 30 s) so polling adds little to what is measured. */
async function firstOk(host: string, port: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((await get(host, port)) === 200) return;
    await sleep(2);
  }
  throw new Error(`no HTTP 200 from ${host}:${port} within 30 s`);
}

interface DriverFigures {
  cold: number[];
  latencyMs: number;
  rps: number;
  /** The instance cgroup's CPU time per request under wrk (sentry, gofer, platform stubs and app for gVisor). */
  cpuUsPerRequest: number;
  idleBytes: number;
}

async function measure(driver: SandboxDriver, image: ImageRef, tag: string): Promise<DriverFigures> {
  const io = { log: () => undefined };
  const prepared = await driver.prepare(image, spec(`bench-${tag}-prep`));
  const cold: number[] = [];
  for (let i = 0; i < COLD_STARTS; i++) {
    const t0 = performance.now();
    const instance = await driver.start(prepared, spec(`bench-${tag}-cold-${i}`), io);
    try {
      const ep = instance.endpoint as { host: string; port: number };
      await firstOk(ep.host, ep.port);
      cold.push(performance.now() - t0);
    } finally {
      await driver.stop(instance, 0);
    }
  }
  const instance = await driver.start(prepared, spec(`bench-${tag}-warm`), io);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const { host, port } = instance.endpoint as { host: string; port: number };
    await firstOk(host, port);
    for (let i = 0; i < 200; i++) await get(host, port, agent); // warm-up: JIT, connection, sentry caches
    const batchMedians: number[] = [];
    for (let b = 0; b < BATCHES; b++) {
      const times: number[] = [];
      for (let i = 0; i < BATCH_REQUESTS; i++) {
        const t0 = performance.now();
        if ((await get(host, port, agent)) !== 200) throw new Error(`${tag}: a request failed`);
        times.push(performance.now() - t0);
      }
      batchMedians.push(median(times));
    }
    const cpuMs = async () => {
      const s = await driver.inspect(instance);
      if (s.status !== "running" || s.cpuMs === undefined) throw new Error(`${tag}: no CPU figure for the instance`);
      return s.cpuMs;
    };
    const cpu0 = await cpuMs();
    const t0 = performance.now();
    const load = await wrk(`http://${host}:${port}/`, { connections: 4, seconds: 5 });
    const cpuUsPerRequest = ((await cpuMs()) - cpu0) * 1000 / (load.requestsPerSec * ((performance.now() - t0) / 1000));
    if (load.non2xx) throw new Error(`${tag}: ${load.non2xx} non-2xx responses under load`);
    await sleep(1000);
    const state = await driver.inspect(instance);
    return { cold, latencyMs: median(batchMedians), rps: load.requestsPerSec, cpuUsPerRequest, idleBytes: state.status === "running" ? (state.memoryBytes ?? 0) : 0 };
  } finally {
    agent.destroy();
    await driver.stop(instance, 0);
    await driver.release?.(prepared);
  }
}

export async function benchGvisor(): Promise<BenchRow[]> {
  const images = new StrataHome(process.env.STRATA_BENCH_IMAGES ?? "/var/tmp/strata-test-images");
  const layout = new OciLayout(imagePaths(images).layout);
  const app = `bench-go-${process.pid}`;
  const built = await new GoBuilder().build({
    app, version: "v1", sourceDir: EXAMPLE, spec: { runtime: "go119" }, home: images, layout,
    catalog: new ImageCatalog(images, layout), log: () => undefined,
  });
  const root = await mkdtemp(join("/var/tmp", "strata-bench-gvisor-"));
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabenchgv0", subnet: "10.233.10.0/24" });
  // One driver per platform and network stack, measured in the same run beside runc.
  const gvisor = new GvisorDriver({ home, network, netStack: "netstack" });
  const choice = await gvisor.platform();
  const variants: Array<{ label: string; driver: GvisorDriver; tag: string }> = [
    { label: `gVisor ${choice.platform} (host stack)`, driver: new GvisorDriver({ home, network, platform: choice.platform, netStack: "host" }), tag: "gh" },
    { label: `gVisor ${choice.platform} (netstack)`, driver: gvisor, tag: "gv" },
  ];
  if (choice.platform === "systrap") {
    // The driver turns systrap's spinning fast path off (driver.ts); this row shows what that is worth.
    variants.push({
      label: "gVisor systrap (host stack, fast path on)", tag: "gf",
      driver: new GvisorDriver({ home, network, platform: "systrap", netStack: "host", systrapFastPath: true }),
    });
  }
  if (choice.platform !== "ptrace") {
    variants.push(
      { label: "gVisor ptrace (netstack)", driver: new GvisorDriver({ home, network, platform: "ptrace" }), tag: "gp" },
      { label: "gVisor ptrace (host stack)", driver: new GvisorDriver({ home, network, platform: "ptrace", netStack: "host" }), tag: "gq" },
    );
  }
  const runc = new OciDriver({ home, runtime: "runc", network });
  try {
    const probe = await gvisor.probe();
    if (!probe.available) throw new Error(`gvisor unavailable: ${probe.reason}`);
    await network.ensure();
    const r = await measure(runc, built.image, "rc");
    const us = (x: number) => Math.round(x * 1000);
    const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
    const ratio = (x: number) => Math.round(x * 100) / 100;
    const rows: BenchRow[] = [
      { name: `runsc ${probe.details?.version ?? "?"} (${probe.details?.runsc ?? "?"})`, value: 0, unit: "-" },
      { name: "runc cold start (start → first 200), median", value: Math.round(median(r.cold)), unit: "ms" },
      { name: "runc cold start, p99", value: Math.round(percentile(r.cold, 99)), unit: "ms" },
      { name: "runc request latency p50 (keep-alive, sequential)", value: us(r.latencyMs), unit: "µs" },
      { name: "runc throughput (wrk, 4 connections, 5 s)", value: Math.round(r.rps), unit: "req/s" },
      { name: "runc instance CPU per request under wrk (cgroup, quota 1 CPU)", value: Math.round(r.cpuUsPerRequest), unit: "µs" },
      { name: "runc idle instance, memory cgroup working set", value: mib(r.idleBytes), unit: "MiB" },
    ];
    for (const v of variants) {
      const g = await measure(v.driver, built.image, v.tag);
      rows.push(
        { name: `${v.label} cold start (start → first 200), median [target <= 300 ms]`, value: Math.round(median(g.cold)), unit: "ms", peer: `runc ${Math.round(median(r.cold))} ms` },
        { name: `${v.label} cold start, p99`, value: Math.round(percentile(g.cold, 99)), unit: "ms", peer: `runc ${Math.round(percentile(r.cold, 99))} ms` },
        { name: `${v.label} request latency p50 (keep-alive, sequential)`, value: us(g.latencyMs), unit: "µs", peer: `runc ${us(r.latencyMs)} µs` },
        { name: `${v.label} p50 latency / runc's [target <= 2]`, value: ratio(g.latencyMs / r.latencyMs), unit: "x" },
        { name: `${v.label} throughput (wrk, 4 connections, 5 s)`, value: Math.round(g.rps), unit: "req/s", peer: `runc ${Math.round(r.rps)} req/s` },
        { name: `${v.label} throughput / runc's [target >= 0.3]`, value: ratio(g.rps / r.rps), unit: "x" },
        { name: `${v.label} instance CPU per request under wrk (cgroup, quota 1 CPU)`, value: Math.round(g.cpuUsPerRequest), unit: "µs", peer: `runc ${Math.round(r.cpuUsPerRequest)} µs` },
        { name: `${v.label} idle instance, memory cgroup working set (sentry + gofer + app)`, value: mib(g.idleBytes), unit: "MiB", peer: `runc ${mib(r.idleBytes)} MiB` },
      );
    }
    return rows;
  } finally {
    // measure() stops every instance it starts; the sweeps clear what an error left (this home's only).
    await gvisor.sweep(new Set());
    await runc.sweep(new Set());
    for (const v of variants) await v.driver.close();
    await runc.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
    await layout.untag(built.image.ref!);
  }
}
