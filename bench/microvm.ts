/**
 * The microvm driver (QEMU microvm; TCG on this host) beside runc, in the same run: for a small guest (the
 * conformance busybox image serving a file with httpd) cold start (start() called → first HTTP 200) and
 * start restored from a snapshot of the version's first instance, medians and p99 of >= 10 each, how many
 * restores came from the snapshot (a failed restore boots instead), the snapshot's size on disk, the
 * memory of an idle booted and an idle restored instance (its memory cgroup's charge, the VMM with the
 * guest's RAM, plus the huge pages the guest's RAM is on where the host has a pool), and restores after
 * an idle pause with the guest's RAM on huge pages beside the same with anonymous memory (interleaved).
 * Then the same cold/restored pair for an Elixir release (examples/elixir-app, built here by the Elixir
 * buildpack), where a restore skips the BEAM's boot. Targets (issue 14, TCG): cold <= 2.5 s, restore
 * <= 500 ms for the small guest. What restored siblings share is measured by ./snapshot-uniqueness.ts.
 */
import { cp, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { ElixirBuilder } from "../src/build/elixir/index.js";
import { StrataHome } from "../src/home.js";
import { ImageCatalog, imagePaths } from "../src/images/catalog.js";
import { OciLayout } from "../src/images/layout.js";
import { HostNetwork } from "../src/net/index.js";
import { conformanceImage } from "../src/sandbox/conformance/index.js";
import type { ImageRef, Instance, InstanceSpec, Prepared, SandboxDriver } from "../src/sandbox/driver.js";
import { hugetlbPool } from "../src/sandbox/guest/index.js";
import { MicrovmDriver } from "../src/sandbox/microvm/index.js";
import { OciDriver } from "../src/sandbox/oci/index.js";
import { median, percentile, type BenchRow } from "./measure.js";

const COLD_STARTS = 10;
const RESTORES = 20;
/** Restores after an idle pause, per kind of guest RAM, interleaved: what a scale from zero meets. */
const IDLE_RESTORES = 8;
const IDLE_PAUSE_MS = 4000;
const io = { log: () => undefined };
const ELIXIR_EXAMPLE = fileURLToPath(new URL("../examples/elixir-app/", import.meta.url));

type SpecOf = (id: string) => InstanceSpec;

const busyboxSpec: SpecOf = (id) => ({
  instanceId: id, app: "bench-mv", version: "v1", port: 8080, env: { PORT: "8080" },
  limits: { memoryMb: 64, cpuMillis: 1000, pids: 64 },
  command: ["/bin/sh", "-c", "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"],
});

/** The release's own start command; F1's memory, a whole CPU as for the small guest. */
const elixirSpec: SpecOf = (id) => ({
  instanceId: id, app: "bench-mv-ex", version: "v1", port: 8080, env: { PORT: "8080", GAE_SERVICE: "bench-mv-ex", GAE_VERSION: "v1" },
  limits: { memoryMb: 384, cpuMillis: 1000, pids: 256 },
});

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

/** Polls every 2 ms (bounded to 120 s: an Elixir boot under TCG takes tens of seconds) so polling adds little to what is measured. */
async function firstOk(endpoint: unknown): Promise<void> {
  const { host, port } = endpoint as { host: string; port: number };
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if ((await get(host, port)) === 200) return;
    await sleep(2);
  }
  throw new Error(`no HTTP 200 from ${host}:${port} within 120 s`);
}

/**
 * The CPU time (user + system, ms) the instance's VMM process has used so far, when its handle names a pid
 * (QEMU's): on a shared host, wall times follow the load, while this follows what the boot itself costs.
 */
async function vmmCpuMs(instance: Instance): Promise<number | undefined> {
  const pid = (instance.handle.data as { pid?: unknown } | undefined)?.pid;
  if (typeof pid !== "number") return undefined;
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).replace(/^.*\) /s, "").split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
/** USER_HZ: /proc/<pid>/stat counts clock ticks of 1/100 s on Linux x86-64. */
const CLOCK_TICKS = 100;

/**
 * start() → first 200, `runs` times, each instance stopped before the next; counts the starts whose detail
 * says restored, and the VMM's CPU time at the first 200 (none for runc).
 */
async function starts(driver: SandboxDriver, prepared: Prepared<unknown>, specOf: SpecOf, tag: string, runs: number): Promise<{ times: number[]; cpu: number[]; restored: number }> {
  const times: number[] = [];
  const cpu: number[] = [];
  let restored = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const instance = await driver.start(prepared, specOf(`bench-${tag}-${i}`), io);
    try {
      await firstOk(instance.endpoint);
      times.push(performance.now() - t0);
      const used = await vmmCpuMs(instance);
      if (used !== undefined) cpu.push(used);
      if (/restored/.test(instance.detail ?? "")) restored++;
    } finally {
      await driver.stop(instance, 0);
    }
  }
  return { times, cpu, restored };
}

/** The memory cgroup charge of one idle instance, 2 s after its first 200. */
async function idleBytes(driver: SandboxDriver, prepared: Prepared<unknown>, specOf: SpecOf, id: string): Promise<number> {
  const instance = await driver.start(prepared, specOf(id), io);
  try {
    await firstOk(instance.endpoint);
    await sleep(2000);
    const state = await driver.inspect(instance);
    return state.status === "running" ? (state.memoryBytes ?? 0) : 0;
  } finally {
    await driver.stop(instance, 0);
  }
}

/** The bytes the snapshots under `dir` take on disk (allocated blocks: the run disk copy is sparse). */
async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of await readdir(dir, { recursive: true }).catch(() => [] as string[])) {
    const s = await stat(join(dir, f));
    if (s.isFile()) total += s.blocks * 512;
  }
  return total;
}

interface ColdRestored {
  cold: number[];
  restored: number[];
  /** The VMM's CPU time at the first 200, per start. */
  coldCpu: number[];
  restoredCpu: number[];
  restoredCount: number;
  /** start() of the version's first instance → its snapshot on disk. */
  snapshotMs: number;
  snapshotBytes: number;
  coldIdle: number;
  restoredIdle: number;
  /** Restores after IDLE_PAUSE_MS with nothing running, guest RAM on huge pages and anonymous (when asked for). */
  idleHuge: number[];
  idleAnonymous: number[];
}

/**
 * Cold starts on a driver without snapshots; then, on one with them, the version's first instance (booted,
 * snapshotted once it listens) and `RESTORES` starts restored from its snapshot.
 */
async function coldAndRestored(root: string, booted: MicrovmDriver, snapshotting: MicrovmDriver, image: ImageRef, specOf: SpecOf, tag: string, idle: boolean, anonymous?: MicrovmDriver): Promise<ColdRestored> {
  const coldPrepared = await booted.prepare(image, specOf(`bench-${tag}-prep`));
  const cold = await starts(booted, coldPrepared, specOf, `${tag}c`, COLD_STARTS);
  const coldIdle = idle ? await idleBytes(booted, coldPrepared, specOf, `bench-${tag}-idle`) : 0;
  await booted.release(coldPrepared);

  const snapDir = join(root, "cache", "microvm-snapshots");
  const prepared = await snapshotting.prepare(image, specOf(`bench-${tag}-sprep`));
  const t0 = performance.now();
  const first = await snapshotting.start(prepared, specOf(`bench-${tag}-first`), io);
  await firstOk(first.endpoint);
  const hasSnapshot = async () => (await readdir(snapDir, { recursive: true }).catch(() => [] as string[])).some((f) => f.endsWith(".vmstate"));
  for (let i = 0; i < 3000 && !(await hasSnapshot()); i++) await sleep(20);
  const snapshotMs = performance.now() - t0;
  await snapshotting.stop(first, 0);
  if (!(await hasSnapshot())) throw new Error(`no snapshot of the first ${tag} instance within 60 s of its first 200`);
  const snapshotBytes = await diskBytes(snapDir);
  const restored = await starts(snapshotting, prepared, specOf, `${tag}r`, RESTORES);
  const restoredIdle = idle ? await idleBytes(snapshotting, prepared, specOf, `bench-${tag}-ridle`) : 0;
  const idleHuge: number[] = [];
  const idleAnonymous: number[] = [];
  for (let i = 0; anonymous && i < IDLE_RESTORES; i++) {
    for (const [driver, times, kind] of [[anonymous, idleAnonymous, "a"], [snapshotting, idleHuge, "h"]] as const) {
      await sleep(IDLE_PAUSE_MS);
      times.push(...(await starts(driver, prepared, specOf, `${tag}i${kind}${i}`, 1)).times);
    }
  }
  await snapshotting.release(prepared);
  return { cold: cold.times, restored: restored.times, coldCpu: cold.cpu, restoredCpu: restored.cpu, restoredCount: restored.restored, snapshotMs, snapshotBytes, coldIdle, restoredIdle, idleHuge, idleAnonymous };
}

/** The image store shared with the tests (base images are built there once per machine). */
function sharedStore(): { home: StrataHome; layout: OciLayout; catalog: ImageCatalog } {
  const home = new StrataHome(process.env.STRATA_BENCH_IMAGES ?? "/var/tmp/strata-test-images");
  const layout = new OciLayout(imagePaths(home).layout);
  return { home, layout, catalog: new ImageCatalog(home, layout) };
}

/** examples/elixir-app built by the Elixir buildpack in the shared image store (its base images come from there). */
async function elixirImage(app: string): Promise<{ image: ImageRef; layout: OciLayout }> {
  const { home, layout, catalog } = sharedStore();
  const src = await mkdtemp(join(tmpdir(), "strata-bench-elixir-"));
  try {
    await cp(ELIXIR_EXAMPLE, src, { recursive: true });
    const result = await new ElixirBuilder().build({ app, version: "v1", sourceDir: src, spec: { runtime: "elixir114" }, home, layout, catalog, log: () => {} });
    return { image: result.image, layout };
  } finally {
    await rm(src, { recursive: true, force: true });
  }
}

/**
 * `microvm-small`: the small guest only (runc, cold, restored, idle memory), without the Elixir release's
 * build and its minute-long cold starts, for measuring boot and restore changes on a shared host.
 */
export function benchMicrovmSmall(): Promise<BenchRow[]> {
  return benchMicrovm({ elixir: false });
}

export async function benchMicrovm(opts: { elixir: boolean } = { elixir: true }): Promise<BenchRow[]> {
  const root = await mkdtemp(join("/var/tmp", "strata-bench-microvm-"));
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabenchmv0", subnet: "10.233.12.0/24" });
  const booted = new MicrovmDriver({ home, network });
  const snapshotting = new MicrovmDriver({ home, network, snapshots: true });
  // The same snapshots, restored with the guest's RAM anonymous instead of on the huge page pool.
  const anonymous = new MicrovmDriver({ home, network, snapshots: true, hugePages: false });
  const runc = new OciDriver({ home, runtime: "runc", network });
  const elixirApp = `bench-mv-ex-${process.pid}`;
  let elixirLayout: OciLayout | undefined;
  try {
    const probe = await booted.probe();
    if (!probe.available) throw new Error(`microvm unavailable: ${probe.reason}`);
    await network.ensure();
    const image: ImageRef = await conformanceImage();
    const rc = (await starts(runc, await runc.prepare(image, busyboxSpec("bench-rc-prep")), busyboxSpec, "rc", COLD_STARTS)).times;
    const pool = await hugetlbPool();
    const small = await coldAndRestored(root, booted, snapshotting, image, busyboxSpec, "mv", true, pool ? anonymous : undefined);

    const ms = (x: number) => Math.round(x);
    const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
    const smallRows: BenchRow[] = [
      { name: `microvm backend: ${probe.details?.backend ?? "?"}`, value: 0, unit: "-" },
      { name: `runc cold start (start → first 200), median of ${rc.length}`, value: ms(median(rc)), unit: "ms" },
      { name: "runc cold start, p99", value: ms(percentile(rc, 99)), unit: "ms" },
      { name: `microvm cold start (start → first 200), median of ${small.cold.length} [target <= 2500 ms on TCG]`, value: ms(median(small.cold)), unit: "ms", peer: `runc ${ms(median(rc))} ms` },
      { name: "microvm cold start, p99", value: ms(percentile(small.cold, 99)), unit: "ms", peer: `runc ${ms(percentile(rc, 99))} ms` },
      { name: `microvm restore from snapshot (start → first 200), median of ${small.restored.length} [target <= 500 ms on TCG]`, value: ms(median(small.restored)), unit: "ms", peer: `microvm cold ${ms(median(small.cold))} ms` },
      { name: "microvm restore from snapshot, p99", value: ms(percentile(small.restored, 99)), unit: "ms", peer: `microvm cold ${ms(percentile(small.cold, 99))} ms` },
      { name: "microvm cold start, the VMM's CPU time at the first 200 (load-independent), median", value: ms(median(small.coldCpu)), unit: "ms", peer: `p99 ${ms(percentile(small.coldCpu, 99))} ms` },
      { name: "microvm restore, the VMM's CPU time at the first 200, median", value: ms(median(small.restoredCpu)), unit: "ms", peer: `p99 ${ms(percentile(small.restoredCpu, 99))} ms` },
      { name: "microvm starts served from the snapshot (the rest fell back to a boot)", value: small.restoredCount, unit: `of ${small.restored.length}` },
      { name: "microvm first instance: start → its snapshot on disk", value: ms(small.snapshotMs), unit: "ms" },
      { name: "microvm snapshot size on disk (64 MiB guest + 96 MiB overhead)", value: mib(small.snapshotBytes), unit: "MiB" },
      { name: "microvm idle booted instance, memory (cgroup: VMM + guest RAM touched; + its huge pages)", value: mib(small.coldIdle), unit: "MiB" },
      { name: "microvm idle restored instance, memory", value: mib(small.restoredIdle), unit: "MiB", peer: `booted ${mib(small.coldIdle)} MiB` },
      { name: `microvm guest RAM: ${pool ? `huge pages (${pool.mount}, ${mib(pool.freeBytes)} MiB free at the start)` : "anonymous memory (no hugetlbfs pool: scripts/setup-host.sh reserves one)"}`, value: 0, unit: "-" },
      ...(small.idleHuge.length ? [
        { name: `microvm restore after ${IDLE_PAUSE_MS / 1000} s idle, guest RAM on huge pages, median of ${small.idleHuge.length}`, value: ms(median(small.idleHuge)), unit: "ms", peer: `anonymous RAM ${ms(median(small.idleAnonymous))} ms` },
        { name: `microvm restore after ${IDLE_PAUSE_MS / 1000} s idle, guest RAM on huge pages, p99`, value: ms(percentile(small.idleHuge, 99)), unit: "ms", peer: `anonymous RAM ${ms(percentile(small.idleAnonymous, 99))} ms` },
        { name: `microvm restore after ${IDLE_PAUSE_MS / 1000} s idle, guest RAM anonymous, median of ${small.idleAnonymous.length}`, value: ms(median(small.idleAnonymous)), unit: "ms" },
      ] : []),
    ];
    if (!opts.elixir) return smallRows;

    const elixir = await elixirImage(elixirApp);
    elixirLayout = elixir.layout;
    const ex = await coldAndRestored(root, booted, snapshotting, elixir.image, elixirSpec, "ex", false);
    return [
      ...smallRows,
      { name: `Elixir release (examples/elixir-app) in a microvm, cold start (start → first 200), median of ${ex.cold.length}`, value: ms(median(ex.cold)), unit: "ms", peer: `restored ${ms(median(ex.restored))} ms` },
      { name: "Elixir release in a microvm, cold start, p99", value: ms(percentile(ex.cold, 99)), unit: "ms" },
      { name: `Elixir release restored from snapshot (start → first 200), median of ${ex.restored.length}`, value: ms(median(ex.restored)), unit: "ms", peer: `cold ${ms(median(ex.cold))} ms` },
      { name: "Elixir release restored from snapshot, p99", value: ms(percentile(ex.restored, 99)), unit: "ms", peer: `cold ${ms(percentile(ex.cold, 99))} ms` },
      { name: "Elixir starts served from the snapshot (the rest fell back to a boot)", value: ex.restoredCount, unit: `of ${ex.restored.length}` },
      { name: "Elixir first instance: start → its snapshot on disk", value: ms(ex.snapshotMs), unit: "ms" },
      { name: "Elixir snapshot size on disk (384 MiB guest + 96 MiB overhead)", value: mib(ex.snapshotBytes), unit: "MiB" },
    ];
  } finally {
    // starts() and idleBytes() stop every instance they start; the sweeps clear what an error left (this home's only).
    for (const d of [booted, snapshotting, anonymous]) await d.sweep(new Set());
    await runc.sweep(new Set());
    for (const d of [booted, snapshotting, anonymous]) await d.close();
    await runc.close();
    await network.teardown();
    if (elixirLayout) for (const img of await elixirLayout.list()) if (img.ref.startsWith(`apps/${elixirApp}:`)) await elixirLayout.untag(img.ref);
    await rm(root, { recursive: true, force: true });
  }
}
