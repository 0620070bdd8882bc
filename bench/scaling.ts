import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "../test/e2e/harness.js";
import { median, percentile, type BenchRow } from "./measure.js";

const FIXTURES = join(REPO, "test", "fixtures", "apps");

async function instanceCount(d: TestDaemon, app: string): Promise<number> {
  return (JSON.parse(await d.cliOk(["instances", app, "--json"])) as unknown[]).length;
}

/** Request sent → first byte, from zero instances, `n` times (waiting for the idle timeout between). */
async function scaleFromZero(d: TestDaemon, app: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let w = 0; w < 200 && (await instanceCount(d, app)) > 0; w++) await sleep(100);
    const t0 = performance.now();
    const r = await d.request(`${app}.localhost`, "/");
    if (r.status !== 200) throw new Error(`${app} answered ${r.status}: ${r.text}`);
    times.push(performance.now() - t0);
  }
  return times;
}

/**
 * Scale-from-zero latency per driver, and how long the autoscaler takes to settle under a step from 1 to
 * 50 concurrent clients (with the count of failed requests during it).
 */
export async function benchScaling(): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), "strata-bench-scaling-"));
  const d = await TestDaemon.start();
  const rows: BenchRow[] = [];
  try {
    const runcApp = join(work, "runc");
    await cp(join(FIXTURES, "python-probe"), runcApp, { recursive: true });
    await writeFile(join(runcApp, "app.yaml"), "runtime: python311\nautomatic_scaling:\n  min_instances: 0\n  idle_timeout: 1s\n  max_instances: 10\n");
    const isoApp = join(work, "isolate");
    await cp(join(FIXTURES, "isolate-ts"), isoApp, { recursive: true });
    await writeFile(join(isoApp, "app.yaml"), "runtime: workers\nautomatic_scaling:\n  min_instances: 0\n  idle_timeout: 1s\n");
    await d.cliOk(["deploy", runcApp, "--app", "zr", "--version", "v1"]);
    await d.cliOk(["deploy", isoApp, "--app", "zi", "--version", "v1"]);
    for (const [driver, app] of [["runc", "zr"], ["isolate", "zi"]] as const) {
      const times = await scaleFromZero(d, app, 20);
      rows.push({ name: `scale from zero, ${driver}: request → first byte, median of 20`, value: Math.round(median(times) * 10) / 10, unit: "ms" });
      rows.push({ name: `scale from zero, ${driver}: p99 of 20`, value: Math.round(percentile(times, 99) * 10) / 10, unit: "ms" });
    }

    // Step load on runc: 1 client for 5 s, then 50 for up to 40 s; bounded, loopback only.
    let failed = 0;
    let sent = 0;
    let clients = 1;
    let stop = false;
    const client = async () => {
      while (!stop && sent < 50_000) {
        sent++;
        const r = await d.request("zr.localhost", "/").catch(() => ({ status: 0 }));
        if (r.status !== 200) failed++;
      }
    };
    const running: Promise<void>[] = [client()];
    await sleep(5000);
    const stepAt = performance.now();
    while (clients < 50) {
      running.push(client());
      clients++;
    }
    let last = await instanceCount(d, "zr");
    let lastChange = performance.now();
    while (performance.now() - stepAt < 40_000 && performance.now() - lastChange < 5000) {
      await sleep(250);
      const n = await instanceCount(d, "zr");
      if (n !== last) {
        last = n;
        lastChange = performance.now();
      }
    }
    stop = true;
    await Promise.all(running);
    rows.push({ name: "autoscaler: step 1 → 50 clients, time to steady instance count", value: Math.round(lastChange - stepAt), unit: "ms" });
    rows.push({ name: "autoscaler: instances at steady state (target 6 concurrent each)", value: last, unit: "instances" });
    rows.push({ name: "autoscaler: failed requests during the step", value: failed, unit: "requests", peer: `target 0, of ${sent} sent` });
    return rows;
  } finally {
    await d.stop();
    await rm(work, { recursive: true, force: true });
  }
}
