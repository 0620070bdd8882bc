import { copyFile, cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "../test/e2e/harness.js";
import { buildRustBootstrap, RUST_FUNCTION_DIR } from "../test/support/rust-function.js";
import { median, percentile, type BenchRow } from "./measure.js";

const FIXTURES = join(REPO, "test", "fixtures", "functions");
const COLD_RUNS = 10;
const WARM_RUNS = 200;
/** microVMs under TCG boot in seconds: fewer samples (each boot is a new version, whose first start boots and is snapshotted). */
const VM_BOOTS = 3;
const VM_RESTORES = 5;
const VM_WARM_RUNS = 100;

/** The Node handler's work as a web app (the peer: the same handler warm in a runc container behind the router). */
const PEER_SERVER = `const http = require("node:http");
http.createServer((req, res) => {
  const body = JSON.stringify({ hello: "world", requestId: "x" });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}).listen(Number(process.env.PORT));
`;

async function instanceCount(d: TestDaemon, app: string): Promise<number> {
  return (JSON.parse((await d.api("GET", `/v1/apps/${app}/instances`)).text) as unknown[]).length;
}

async function invokeMs(d: TestDaemon, name: string): Promise<number> {
  return (await invokeTimed(d, name)).ms;
}

/** One synchronous invocation through the API: wall time, and the REPORT's cold-start field when it started its instance. */
async function invokeTimed(d: TestDaemon, name: string): Promise<{ ms: number; requestId: string }> {
  const t0 = performance.now();
  const r = await d.api("POST", `/v1/functions/${name}/invocations`, { body: '{"name":"bench"}' });
  const ms = performance.now() - t0;
  if (r.status !== 200 || r.headers["x-amz-function-error"]) throw new Error(`${name}: ${r.status} ${r.text}`);
  return { ms, requestId: String(r.headers["x-amzn-requestid"]) };
}

/** The REPORT line's `field` (Init Duration, Restore Duration) of an invocation, in ms. */
async function reportField(d: TestDaemon, name: string, requestId: string, field: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const line = (await d.cliOk(["functions", "logs", name, "-n", "2000"])).split("\n").find((l) => l.includes(`REPORT RequestId: ${requestId}`));
    const m = line && new RegExp(`${field}: ([\\d.]+) ms`).exec(line);
    if (line) {
      if (!m) throw new Error(`${name}: REPORT has no ${field}: ${line}`);
      return Number(m[1]);
    }
    await sleep(200);
  }
  throw new Error(`${name}: no REPORT for ${requestId}`);
}

async function scaledToZero(d: TestDaemon, name: string): Promise<void> {
  for (let w = 0; w < 600 && (await instanceCount(d, name)) > 0; w++) await sleep(100);
}

/** The deploy starts (and waits for) one instance; a cold start from zero comes after it has idled out. */
async function deployToZero(d: TestDaemon, name: string, dir: string): Promise<void> {
  await d.cliOk(["functions", "deploy", dir, "--name", name, "--sandbox", "microvm", "--idle-timeout", "1s", "--timeout", "60"]);
  await scaledToZero(d, name);
}

/**
 * One invocation from zero, asked again while the activator's wait (30 s) runs out before the instance is
 * ready (a microVM booting under TCG on a loaded host can take longer): the time is until the first answer.
 */
async function invokeUntilServed(d: TestDaemon, name: string): Promise<{ ms: number; requestId: string; tries: number }> {
  const t0 = performance.now();
  for (let tries = 1; ; tries++) {
    try {
      const r = await invokeTimed(d, name);
      return { ms: performance.now() - t0, requestId: r.requestId, tries };
    } catch (err) {
      if (tries >= 5 || !/became ready within/.test((err as Error).message)) throw err;
    }
  }
}

/** Cold invocations from zero, each with its REPORT's cold-start field (Init Duration, or Restore Duration). */
async function coldWithReport(d: TestDaemon, name: string, n: number, field: string): Promise<{ ms: number[]; field: number[] }> {
  const ms: number[] = [];
  const fields: number[] = [];
  for (let i = 0; i < n; i++) {
    await scaledToZero(d, name);
    const r = await invokeUntilServed(d, name);
    if (r.tries > 1) console.error(`${name}: the cold invocation was asked ${r.tries} times (the activator's wait ran out)`);
    ms.push(r.ms);
    fields.push(await reportField(d, name, r.requestId, field));
  }
  console.error(`${name}: cold from zero ${ms.map(round).join(", ")} ms; ${field} ${fields.join(", ")} ms`);
  return { ms, field: fields };
}

/** The same function in microVMs without snapshots: `VM_BOOTS` cold starts from zero, each booting the guest and running the init. */
async function microvmBootRows(d: TestDaemon, name: string, dir: string, label: string): Promise<BenchRow[]> {
  await deployToZero(d, name, dir);
  const boots = await coldWithReport(d, name, VM_BOOTS, "Init Duration");
  await d.cliOk(["functions", "delete", name]);
  return [
    { name: `cold invoke from zero, ${label}, microvm booting (asked again while the activator's 30 s wait runs out): median of ${VM_BOOTS}`, value: round(median(boots.ms)), unit: "ms", peer: `cold invoke from zero, ${label}, runc` },
    { name: `  its REPORT Init Duration: median of ${VM_BOOTS}`, value: round(median(boots.field)), unit: "ms" },
  ];
}

/**
 * With `microvm.snapshots: true`: the deploy's instance boots and is snapshotted after init; then
 * `VM_RESTORES` cold starts from zero, each restoring that snapshot, then warm invocations.
 */
async function microvmSnapshotRows(d: TestDaemon, name: string, dir: string, label: string): Promise<BenchRow[]> {
  await deployToZero(d, name, dir);
  const restores = await coldWithReport(d, name, VM_RESTORES, "Restore Duration");
  const warm: number[] = [];
  for (let i = 0; i < VM_WARM_RUNS; i++) warm.push(await invokeMs(d, name));
  await d.cliOk(["functions", "delete", name]);
  return [
    { name: `cold invoke from snapshot, ${label}, microvm: median of ${VM_RESTORES}`, value: round(median(restores.ms)), unit: "ms", peer: "microvm booting" },
    { name: `cold invoke from snapshot, ${label}, microvm: p99 of ${VM_RESTORES}`, value: round(percentile(restores.ms, 99)), unit: "ms", peer: "microvm booting" },
    { name: `  its REPORT Restore Duration: median of ${VM_RESTORES}`, value: round(median(restores.field)), unit: "ms" },
    { name: `warm invoke, ${label}, microvm: p50 of ${VM_WARM_RUNS}`, value: round(median(warm)), unit: "ms", peer: `warm invoke, ${label} (runc)` },
    { name: `warm invoke, ${label}, microvm: p99 of ${VM_WARM_RUNS}`, value: round(percentile(warm, 99)), unit: "ms", peer: `warm invoke, ${label} (runc)` },
  ];
}

/** Invoke → result with no instance running (it boots, inits, then runs), `n` times. */
async function coldInvokes(d: TestDaemon, name: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let w = 0; w < 300 && (await instanceCount(d, name)) > 0; w++) await sleep(100);
    times.push(await invokeMs(d, name));
  }
  return times;
}

const round = (x: number) => Math.round(x * 10) / 10;

/**
 * Functions: cold invoke (from zero, booting the runtime in its sandbox) and warm invoke p50/p99 through
 * the invoke API, for the Node handler and the Rust lambda_runtime function, beside the same Node work
 * served warm by a web app in a runc container through the router, in the same run. Where the microvm
 * driver runs (`STRATA_BENCH_FUNCTIONS_MICROVM=0` skips it), the same functions in microVMs: cold from
 * zero booting, cold from zero restoring the version's snapshot, and warm.
 */
export async function benchFunctions(): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), "strata-bench-functions-"));
  const d = await TestDaemon.start();
  const rows: BenchRow[] = [];
  try {
    await d.cliOk(["functions", "deploy", join(FIXTURES, "node-hello"), "--name", "bnode", "--idle-timeout", "1s"]);
    const built = await buildRustBootstrap();
    const names = ["bnode"];
    const dirs: Record<string, string> = { bnode: join(FIXTURES, "node-hello") };
    const labels: Record<string, string> = { bnode: "Node (nodejs20.x)", brust: "Rust (provided, lambda_runtime)" };
    if ("bootstrap" in built) {
      const dir = join(work, "rust");
      dirs.brust = dir;
      await mkdir(dir);
      await cp(join(RUST_FUNCTION_DIR, "function.yaml"), join(dir, "function.yaml"));
      await copyFile(built.bootstrap, join(dir, "bootstrap"));
      await d.cliOk(["functions", "deploy", dir, "--name", "brust", "--idle-timeout", "1s"]);
      names.push("brust");
    }
    const peer = join(work, "peer");
    await mkdir(peer);
    await writeFile(join(peer, "server.js"), PEER_SERVER);
    await writeFile(join(peer, "package.json"), '{"name":"peer","version":"1.0.0"}');
    await writeFile(join(peer, "app.yaml"), "runtime: nodejs20\nautomatic_scaling:\n  min_instances: 1\n");
    await d.cliOk(["deploy", peer, "--app", "bpeer", "--version", "v1"]);

    for (const name of names) {
      const label = name === "bnode" ? "Node (nodejs20.x)" : "Rust (provided, lambda_runtime)";
      const cold = await coldInvokes(d, name, COLD_RUNS);
      rows.push({ name: `cold invoke from zero, ${label}, runc: median of ${COLD_RUNS}`, value: round(median(cold)), unit: "ms" });
      rows.push({ name: `cold invoke from zero, ${label}, runc: p99 of ${COLD_RUNS}`, value: round(percentile(cold, 99)), unit: "ms" });
      const warm: number[] = [];
      for (let i = 0; i < WARM_RUNS; i++) warm.push(await invokeMs(d, name));
      rows.push({ name: `warm invoke, ${label}: p50 of ${WARM_RUNS}`, value: round(median(warm)), unit: "ms", peer: "warm web app in runc" });
      rows.push({ name: `warm invoke, ${label}: p99 of ${WARM_RUNS}`, value: round(percentile(warm, 99)), unit: "ms", peer: "warm web app in runc" });
    }
    const peerTimes: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      const t0 = performance.now();
      const r = await d.request("bpeer.localhost", "/");
      if (r.status !== 200) throw new Error(`peer: ${r.status}`);
      peerTimes.push(performance.now() - t0);
    }
    rows.push({ name: `warm web app in runc (same Node work over HTTP): p50 of ${WARM_RUNS}`, value: round(median(peerTimes)), unit: "ms" });
    rows.push({ name: `warm web app in runc: p99 of ${WARM_RUNS}`, value: round(percentile(peerTimes, 99)), unit: "ms" });
    await d.cliOk(["apps", "delete", "bpeer", "--yes"]);
    const vmUnavailable = process.env.STRATA_BENCH_FUNCTIONS_MICROVM === "0" ? "skipped (STRATA_BENCH_FUNCTIONS_MICROVM=0)" : await d.driverUnavailable("microvm");
    if (vmUnavailable) rows.push({ name: `microvm rows: ${vmUnavailable}`, value: 0, unit: "-" });
    else {
      for (const name of names) {
        await d.cliOk(["functions", "delete", name]);
        rows.push(...(await microvmBootRows(d, `${name}vm`, dirs[name]!, labels[name]!)));
      }
      // Snapshots are a daemon setting: the restores run in a second daemon that has them on.
      await d.stop();
      const snapD = await TestDaemon.start({ configYaml: "microvm:\n  snapshots: true\n" });
      try {
        for (const name of names) rows.push(...(await microvmSnapshotRows(snapD, `${name}snap`, dirs[name]!, labels[name]!)));
      } finally {
        await snapD.stop();
      }
    }
  } finally {
    await d.stop();
    await rm(work, { recursive: true, force: true });
  }
  return rows;
}
