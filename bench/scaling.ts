import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "../test/e2e/harness.js";
import { median, percentile, wrk, type BenchRow } from "./measure.js";

const FIXTURES = join(REPO, "test", "fixtures", "apps");
const ZERO_SAMPLES = 20;
const STEP_RUNS = 3;
const STEADY_RUNS = 3;

/**
 * A daemon under test. With STRATA_BENCH_BASELINE=<dir> (a built checkout of older code, e.g. `git archive
 * <commit> | tar -x -C /tmp/strata-<commit> && npm run build` there), that code runs beside this checkout
 * and every measure alternates between the two, so both see the same host load.
 */
interface Subject {
  label: string;
  d: TestDaemon;
}

interface Counts {
  /** Starting and ready: the instances the scheduler wants now. */
  wanted: number;
  ready: number;
  /** Every instance, draining ones too. */
  all: number;
}

/**
 * From the strata_instances gauge (both this code and older code export it): no driver is asked, so
 * polling it every 100 ms costs the daemon little.
 */
async function instanceCounts(d: TestDaemon, app: string): Promise<Counts> {
  const r = await d.api("GET", "/metrics", { token: null });
  if (r.status !== 200) throw new Error(`metrics: ${r.status} ${r.text}`);
  const counts: Counts = { wanted: 0, ready: 0, all: 0 };
  for (const m of r.text.matchAll(/^strata_instances\{([^}]*)\} (\d+)$/gm)) {
    if (!m[1]!.includes(`app="${app}"`)) continue;
    const state = /state="([^"]+)"/.exec(m[1]!)?.[1];
    const n = Number(m[2]);
    counts.all += n;
    if (state === "starting" || state === "ready") counts.wanted += n;
    if (state === "ready") counts.ready += n;
  }
  return counts;
}

async function untilZero(d: TestDaemon, app: string): Promise<void> {
  for (let w = 0; w < 600; w++) {
    if ((await instanceCounts(d, app)).all === 0) return;
    await sleep(100);
  }
  throw new Error(`${app} kept instances for 60 s after its idle timeout`);
}

/** Request sent → first 200, from zero instances (the app is left idle until it has none). */
async function scaleFromZero(d: TestDaemon, app: string): Promise<number> {
  await untilZero(d, app);
  const t0 = performance.now();
  const r = await d.request(`${app}.localhost`, "/");
  if (r.status !== 200) throw new Error(`${app} answered ${r.status}: ${r.text}`);
  return performance.now() - t0;
}

interface StepResult {
  /** Step → the last change of the wanted (starting + ready) count. */
  wantedMs: number;
  /** Step → the last change of the ready count: every wanted instance answers. */
  readyMs: number;
  instances: number;
  /** Requests per second answered while the 50 clients ran. */
  throughput: number;
  failed: number;
  sent: number;
}

/**
 * From zero: 1 client for 5 s, then 50 clients until neither count has changed for 5 s (at most 40 s).
 * Bounded, loopback only.
 */
async function stepLoad(d: TestDaemon, app: string): Promise<StepResult> {
  await untilZero(d, app);
  let failed = 0;
  let sent = 0;
  let answered = 0;
  let stop = false;
  const client = async () => {
    while (!stop && sent < 50_000) {
      sent++;
      const r = await d.request(`${app}.localhost`, "/").catch(() => ({ status: 0 }));
      if (r.status !== 200) failed++;
      else answered++;
    }
  };
  const running: Promise<void>[] = [client()];
  await sleep(5000);
  const stepAt = performance.now();
  const answeredBefore = answered;
  for (let c = 1; c < 50; c++) running.push(client());
  let last = await instanceCounts(d, app);
  let wantedAt = performance.now();
  let readyAt = wantedAt;
  const now = () => performance.now();
  while (now() - stepAt < 40_000 && now() - Math.max(wantedAt, readyAt) < 5000) {
    await sleep(100);
    const n = await instanceCounts(d, app);
    if (n.wanted !== last.wanted) wantedAt = now();
    if (n.ready !== last.ready) readyAt = now();
    last = n;
  }
  const throughput = (answered - answeredBefore) / ((now() - stepAt) / 1000);
  stop = true;
  await Promise.all(running);
  return { wantedMs: wantedAt - stepAt, readyMs: readyAt - stepAt, instances: last.wanted, throughput, failed, sent };
}

async function deployApps(d: TestDaemon, work: string): Promise<void> {
  await d.cliOk(["deploy", join(work, "runc"), "--app", "zr", "--version", "v1"]);
  await d.cliOk(["deploy", join(work, "isolate"), "--app", "zi", "--version", "v1"]);
  await d.cliOk(["deploy", join(work, "fixed"), "--app", "zf", "--version", "v1"]);
}

const r1 = (n: number) => Math.round(n * 10) / 10;

/** Rows for one measure: this checkout's value, and the baseline's beside it when there is one. */
function compared(name: string, unit: string, values: Map<string, number>, subjects: Subject[], extra = ""): BenchRow[] {
  const [current, baseline] = subjects;
  const mine = values.get(current!.label)!;
  if (!baseline) return [{ name: `${name}${extra}`, value: mine, unit }];
  const theirs = values.get(baseline.label)!;
  const ratio = theirs === 0 ? "" : ` (${(mine / theirs).toFixed(2)}×)`;
  return [
    { name: `${name}, ${current!.label}${extra}`, value: mine, unit, peer: `${baseline.label}: ${theirs} ${unit}${ratio}` },
    { name: `${name}, ${baseline.label}`, value: theirs, unit },
  ];
}

/**
 * Scale-from-zero latency per driver, and how long the autoscaler takes to settle under a step from 1 to
 * 50 concurrent clients (with the count of failed requests during it).
 */
export async function benchScaling(): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), "strata-bench-scaling-"));
  const subjects: Subject[] = [];
  try {
    const runcApp = join(work, "runc");
    await cp(join(FIXTURES, "python-probe"), runcApp, { recursive: true });
    await writeFile(join(runcApp, "app.yaml"), "runtime: python311\nautomatic_scaling:\n  min_instances: 0\n  idle_timeout: 1s\n  max_instances: 10\n");
    // The request path alone (router, activator, lease) at a fixed count: no scaling in the figure.
    const fixedApp = join(work, "fixed");
    await cp(join(FIXTURES, "python-probe"), fixedApp, { recursive: true });
    await writeFile(join(fixedApp, "app.yaml"), "runtime: python311\nmanual_scaling:\n  instances: 2\n");
    const isoApp = join(work, "isolate");
    await cp(join(FIXTURES, "isolate-ts"), isoApp, { recursive: true });
    await writeFile(join(isoApp, "app.yaml"), "runtime: workers\nautomatic_scaling:\n  min_instances: 0\n  idle_timeout: 1s\n");

    subjects.push({ label: "this checkout", d: await TestDaemon.start() });
    const baselineDir = process.env.STRATA_BENCH_BASELINE;
    if (baselineDir) subjects.push({ label: `baseline ${basename(baselineDir)}`, d: await TestDaemon.start({ bin: join(baselineDir, "bin", "strata.js") }) });
    for (const s of subjects) await deployApps(s.d, work);

    const rows: BenchRow[] = [];
    for (const [driver, app] of [["runc", "zr"], ["isolate", "zi"]] as const) {
      const times = new Map<string, number[]>(subjects.map((s) => [s.label, []]));
      // Alternate (baseline first on odd rounds) so drift in the host's load falls on both alike.
      for (let i = 0; i < ZERO_SAMPLES; i++) {
        for (const s of i % 2 ? [...subjects].reverse() : subjects) times.get(s.label)!.push(await scaleFromZero(s.d, app));
      }
      const of = (f: (xs: number[]) => number) => new Map([...times].map(([k, xs]) => [k, r1(f(xs))]));
      rows.push(...compared(`scale from zero, ${driver}: request → first 200, median of ${ZERO_SAMPLES}`, "ms", of(median), subjects));
      rows.push(...compared(`scale from zero, ${driver}: p99 of ${ZERO_SAMPLES}`, "ms", of((xs) => percentile(xs, 99)), subjects));
    }

    const steps = new Map<string, StepResult[]>(subjects.map((s) => [s.label, []]));
    for (let i = 0; i < STEP_RUNS; i++) {
      for (const s of i % 2 ? [...subjects].reverse() : subjects) steps.get(s.label)!.push(await stepLoad(s.d, "zr"));
    }
    const each = (f: (r: StepResult) => number) => new Map([...steps].map(([k, rs]) => [k, rs.map((r) => Math.round(f(r)))]));
    const runsOf = (m: Map<string, number[]>) => ` (runs: ${subjects.map((s) => m.get(s.label)!.join(", ")).join(" | ")})`;
    const medianRow = (name: string, unit: string, f: (r: StepResult) => number) => {
      const m = each(f);
      rows.push(...compared(`${name}, median of ${STEP_RUNS}`, unit, new Map([...m].map(([k, xs]) => [k, median(xs)])), subjects, runsOf(m)));
    };
    medianRow("autoscaler: step 1 → 50 clients, time until the wanted count (starting + ready) is steady", "ms", (r) => r.wantedMs);
    medianRow("autoscaler: step 1 → 50 clients, time until that many instances are ready", "ms", (r) => r.readyMs);
    medianRow("autoscaler: instances at steady state (target 6 concurrent each)", "instances", (r) => r.instances);
    medianRow("autoscaler: requests answered per second while the 50 clients ran", "req/s", (r) => r.throughput);
    const steady = new Map<string, number[]>(subjects.map((s) => [s.label, []]));
    for (let i = 0; i < STEADY_RUNS; i++) {
      for (const s of i % 2 ? [...subjects].reverse() : subjects) {
        const r = await wrk(`http://127.0.0.1:${s.d.info.routerPort}/`, { connections: 50, seconds: 5, host: "zf.localhost" });
        if (r.non2xx) throw new Error(`${s.label}: ${r.non2xx} answers were not 2xx`);
        steady.get(s.label)!.push(Math.round(r.requestsPerSec));
      }
    }
    rows.push(...compared(`request path: 2 fixed instances, 50 connections (wrk, 5 s), median of ${STEADY_RUNS}`, "req/s", new Map([...steady].map(([k, xs]) => [k, median(xs)])), subjects, runsOf(steady)));
    const failed = new Map([...steps].map(([k, rs]) => [k, rs.reduce((a, r) => a + r.failed, 0)]));
    const sent = subjects.map((s) => `${s.label} ${steps.get(s.label)!.reduce((a, r) => a + r.sent, 0)}`).join(", ");
    rows.push(...compared(`autoscaler: failed requests during the ${STEP_RUNS} steps`, "requests", failed, subjects, ` (target 0; sent: ${sent})`));
    return rows;
  } finally {
    for (const s of subjects) await s.d.stop();
    await rm(work, { recursive: true, force: true });
  }
}
