/**
 * Isolate driver benchmark: cold start from zero (start() → first byte), hello req/s, memory per
 * idle tenant (engine RSS delta), and how many idle tenants fit in 2 GiB (extrapolated from the
 * measured memory per tenant, not measured at that count).
 */
import { Agent, request } from "node:http";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "../src/build/isolate/index.js";
import { StrataHome } from "../src/home.js";
import type { Instance, InstanceSpec, Prepared } from "../src/sandbox/driver.js";
import { IsolateDriver, type IsolatePrepared } from "../src/sandbox/isolate/index.js";
import { exec } from "../src/system/exec.js";

export interface BenchResult { name: string; value: number; unit: string; peer?: string }

const COLD_STARTS = 100;
const COLD_SPACING_MS = 50;
const IDLE_TENANTS = 300;
const LOAD_REQUESTS = 20_000;
const LOAD_CONCURRENCY = 32;

function spec(id: string): InstanceSpec {
  return { instanceId: id, app: "bench", version: "v1", port: 8080, env: {}, limits: { memoryMb: 128, cpuMillis: 1000, pids: 0 } };
}

function firstByte(socket: string, agent?: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = request({ socketPath: socket, path: "/", headers: { host: "bench.localhost" }, agent }, (res) => {
      res.once("data", () => resolve());
      res.resume();
      res.on("error", reject);
    });
    r.on("error", reject);
    r.end();
  });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function rssBytes(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

async function coldStarts(driver: IsolateDriver, prepared: Prepared<IsolatePrepared>, spacingMs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < COLD_STARTS; i++) {
    if (spacingMs) await new Promise((r) => setTimeout(r, spacingMs));
    const t0 = performance.now();
    const inst = await driver.start(prepared, spec(`bench-cold-${spacingMs}-${i}`), { log: () => undefined });
    await firstByte((inst.endpoint as { socket: string }).socket);
    times.push(performance.now() - t0);
    await driver.stop(inst, 0);
  }
  return times.sort((a, b) => a - b);
}

/** The prelude's size and evaluation cost, measured in a child process (isolated-vm needs --no-node-snapshot). */
async function preludeCost(): Promise<BenchResult[]> {
  const script = fileURLToPath(new URL("./prelude-cost.ts", import.meta.url));
  const { stdout } = await exec([process.execPath, "--no-node-snapshot", "--import", "tsx", script]);
  return JSON.parse(stdout) as BenchResult[];
}

export async function benchIsolate(): Promise<BenchResult[]> {
  const root = await mkdtemp(join(tmpdir(), "strata-bench-iso-"));
  const driver = new IsolateDriver({ home: new StrataHome(root) });
  const started: Instance[] = [];
  try {
    const src = join(root, "src");
    await mkdir(src);
    await writeFile(join(src, "index.js"), 'export default { fetch() { return new Response("hello"); } };\n');
    const bundle = await build(src, { outDir: join(root, "bundle") });
    const prepared = await driver.prepare(bundle, spec("bench-prep"));
    const io = { log: () => undefined };

    // Warm the engine (process start, prelude bundle, code caches) so cold starts measure a tenant only.
    const warm = await driver.start(prepared, spec("bench-warm"), io);
    await firstByte((warm.endpoint as { socket: string }).socket);
    const enginePid = warm.handle.data["enginePid"] as number;

    // Scale-from-zero events spaced out (each tenant wakes on its own), and back to back (a burst
    // that drains the engine's pool of ready isolates, so each start also creates an isolate).
    const cold = await coldStarts(driver, prepared, COLD_SPACING_MS);
    const burst = await coldStarts(driver, prepared, 0);



    const agent = new Agent({ keepAlive: true, maxSockets: LOAD_CONCURRENCY });
    const sock = (warm.endpoint as { socket: string }).socket;
    let sent = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, async () => {
      while (sent < LOAD_REQUESTS) {
        sent++;
        await firstByte(sock, agent);
      }
    }));
    const rps = LOAD_REQUESTS / ((performance.now() - t0) / 1000);
    agent.destroy();

    const before = await rssBytes(enginePid);
    for (let i = 0; i < IDLE_TENANTS; i++) {
      const inst = await driver.start(prepared, spec(`bench-idle-${i}`), io);
      started.push(inst);
      await firstByte((inst.endpoint as { socket: string }).socket);
    }
    const perTenant = ((await rssBytes(enginePid)) - before) / IDLE_TENANTS;

    return [
      { name: "isolate cold start (start → first byte), median", value: round(percentile(cold, 50)), unit: "ms", peer: "workerd rows (same run)" },
      { name: "isolate cold start (start → first byte), p99", value: round(percentile(cold, 99)), unit: "ms" },
      { name: "isolate cold start, back-to-back burst, median", value: round(percentile(burst, 50)), unit: "ms" },
      { name: "isolate cold start, back-to-back burst, p99", value: round(percentile(burst, 99)), unit: "ms" },
      { name: "isolate hello tenant throughput (32 concurrent, unix socket)", value: Math.round(rps), unit: "req/s", peer: "workerd rows (same run)" },
      { name: `isolate memory per idle tenant (engine RSS delta / ${IDLE_TENANTS})`, value: Math.round(perTenant / 1024), unit: "KiB" },
      { name: "isolate idle tenants in 2 GiB (extrapolated from memory per tenant)", value: Math.floor((2 * 1024 ** 3) / perTenant), unit: "tenants" },
      ...(await preludeCost()),
    ];
  } finally {
    await driver.close();
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  for (const r of await benchIsolate()) console.log(`${r.name}: ${r.value} ${r.unit}${r.peer ? ` (peer: ${r.peer})` : ""}`);
}
