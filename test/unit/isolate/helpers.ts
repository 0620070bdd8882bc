import { request } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { build } from "../../../src/build/isolate/index.js";
import { StrataHome } from "../../../src/home.js";
import type { Instance, InstanceSpec, Prepared } from "../../../src/sandbox/driver.js";
import { IsolateDriver, type IsolateDriverOptions, type IsolatePrepared } from "../../../src/sandbox/isolate/index.js";
import { writeWorker } from "./test-worker.js";

export const FIXTURES = join(import.meta.dirname, "../../fixtures/apps");

export interface HttpResult { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One HTTP request to an instance's unix-socket endpoint. */
export function call(instance: Instance, path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  const socketPath = (instance.endpoint as { socket: string }).socket;
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: init.method ?? "GET", headers: { host: "app.localhost", ...init.headers } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

export function spec(instanceId: string, env: Record<string, string> = {}, memoryMb = 64): InstanceSpec {
  return { instanceId, app: "t", version: "v1", port: 8080, env, limits: { memoryMb, cpuMillis: 1000, pids: 0 } };
}

/** Collects an instance's log lines and lets a test wait for one. */
export class LogSink {
  readonly lines: string[] = [];
  log = (stream: "stdout" | "stderr", line: string): void => {
    this.lines.push(`${stream}: ${line}`);
  };
  async waitFor(pattern: RegExp, timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find((l) => pattern.test(l));
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no log line matched ${pattern}; got:\n${this.lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** A driver in a fresh STRATA_HOME, closed (engine ended, files removed) when the test ends. */
export async function newDriver(t: TestContext, opts: Partial<IsolateDriverOptions> = {}): Promise<{ driver: IsolateDriver; home: StrataHome }> {
  const root = await mkdtemp(join(tmpdir(), "strata-iso-"));
  const home = new StrataHome(root);
  const driver = new IsolateDriver({ home, ...opts });
  t.after(async () => {
    await driver.close();
    await rm(root, { recursive: true, force: true });
  });
  return { driver, home };
}

/** Builds a fixture app into the driver's home and prepares it. */
export async function prepareFixture(driver: IsolateDriver, home: StrataHome, app: string): Promise<Prepared<IsolatePrepared>> {
  const bundle = await build(join(FIXTURES, app), { outDir: join(home.builds, app) });
  return await driver.prepare(bundle, spec("prepare"));
}

/** A new driver running one instance of a test worker (test-worker.ts) from its module source. */
export async function startTestWorker(
  t: TestContext,
  name: string,
  source: string,
  opts: Partial<IsolateDriverOptions> = {},
): Promise<{ inst: Instance; logs: LogSink }> {
  const { driver, home } = await newDriver(t, opts);
  const src = join(home.root, `${name}-src`);
  await writeWorker(src, source);
  const prepared = await driver.prepare(await build(src, { outDir: join(home.builds, name) }), spec("prepare"));
  const logs = new LogSink();
  return { inst: await driver.start(prepared, spec(`${name}-1`), logs), logs };
}
