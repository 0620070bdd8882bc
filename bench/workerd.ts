import { spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO } from "../test/e2e/harness.js";
import { median, percentile, type BenchRow } from "./measure.js";

const WORKERD = join(REPO, "node_modules", ".bin", "workerd");
const PORT_BASE = 18_700;
const LOAD_REQUESTS = 20_000;
const LOAD_CONCURRENCY = 32;

function get(port: number, agent?: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = request({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    r.on("error", reject);
    r.end();
  });
}

function config(port: number): string {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .hello) ],
  sockets = [ ( name = "http", address = "127.0.0.1:${port}", http = (), service = "main" ) ],
);
const hello :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "hello.js") ],
  compatibilityDate = "2024-09-23",
);
`;
}

/**
 * workerd, Cloudflare's runtime, as the isolate driver's peer in the same run: the same hello worker,
 * process start → first response, and throughput with the same Node client shape (32 concurrent,
 * keep-alive) as the isolate benchmark.
 */
export async function benchWorkerd(): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), "strata-bench-workerd-"));
  await writeFile(join(dir, "hello.js"), 'export default { fetch() { return new Response("hello"); } };\n');
  const rows: BenchRow[] = [];
  try {
    const starts: number[] = [];
    for (let i = 0; i < 10; i++) {
      const port = PORT_BASE + i;
      await writeFile(join(dir, "config.capnp"), config(port));
      const t0 = performance.now();
      const p = spawn(WORKERD, ["serve", join(dir, "config.capnp")], { cwd: dir, stdio: "ignore" });
      try {
        for (;;) {
          const ok = await get(port).then(
            (s) => s === 200,
            () => false,
          );
          if (ok) break;
          if (performance.now() - t0 > 10_000) throw new Error("workerd did not answer within 10 s");
          await sleep(2);
        }
        starts.push(performance.now() - t0);
        if (i === 9) {
          const agent = new Agent({ keepAlive: true, maxSockets: LOAD_CONCURRENCY });
          let sent = 0;
          const l0 = performance.now();
          await Promise.all(
            Array.from({ length: LOAD_CONCURRENCY }, async () => {
              while (sent < LOAD_REQUESTS) {
                sent++;
                await get(port, agent);
              }
            }),
          );
          rows.push({ name: "workerd hello worker throughput (32 concurrent, TCP, same client)", value: Math.round(LOAD_REQUESTS / ((performance.now() - l0) / 1000)), unit: "req/s" });
          agent.destroy();
        }
      } finally {
        // workerd ignores SIGTERM (seen on this host): SIGKILL ends it.
        p.kill("SIGKILL");
        await new Promise((r) => p.once("exit", r));
      }
    }
    rows.unshift(
      { name: "workerd cold start (process start → first response), median of 10", value: Math.round(median(starts) * 10) / 10, unit: "ms" },
      { name: "workerd cold start, p99 of 10", value: Math.round(percentile(starts, 99) * 10) / 10, unit: "ms" },
    );
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
