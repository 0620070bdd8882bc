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
  const t0 = performance.now();
  const r = await d.api("POST", `/v1/functions/${name}/invocations`, { body: '{"name":"bench"}' });
  const ms = performance.now() - t0;
  if (r.status !== 200 || r.headers["x-amz-function-error"]) throw new Error(`${name}: ${r.status} ${r.text}`);
  return ms;
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
 * served warm by a web app in a runc container through the router, in the same run. Snapshot restores
 * are not measured: they need the microvm driver.
 */
export async function benchFunctions(): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), "strata-bench-functions-"));
  const d = await TestDaemon.start();
  const rows: BenchRow[] = [];
  try {
    await d.cliOk(["functions", "deploy", join(FIXTURES, "node-hello"), "--name", "bnode", "--idle-timeout", "1s"]);
    const built = await buildRustBootstrap();
    const names = ["bnode"];
    if ("bootstrap" in built) {
      const dir = join(work, "rust");
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
  } finally {
    await d.stop();
    await rm(work, { recursive: true, force: true });
  }
  return rows;
}
