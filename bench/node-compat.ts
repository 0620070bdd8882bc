/**
 * What nodejs_compat costs a worker that uses it (and none that does not: its modules are bundled into that
 * worker only, never into the prelude): bundle size and cold start (start() → first byte) of a hello worker
 * without the flag, the same worker importing every compat module, and the end-to-end fixture app
 * (AsyncLocalStorage, crypto, streams; its async functions lowered for AsyncLocalStorage).
 */
import { request } from "node:http";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../src/build/isolate/index.js";
import { StrataHome } from "../src/home.js";
import type { InstanceSpec } from "../src/sandbox/driver.js";
import { IsolateDriver } from "../src/sandbox/isolate/index.js";
import type { BenchRow } from "./measure.js";

const COLD_STARTS = 40;
const SPACING_MS = 30;
const FIXTURE = join(import.meta.dirname, "..", "test", "fixtures", "apps", "isolate-node-compat");
const EVERY_MODULE = ["assert", "async_hooks", "buffer", "crypto", "events", "path", "process", "stream", "string_decoder", "url", "util"];

function spec(id: string): InstanceSpec {
  return { instanceId: id, app: "bench", version: "v1", port: 8080, env: {}, limits: { memoryMb: 128, cpuMillis: 1000, pids: 0 } };
}

function firstByte(socket: string, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = request({ socketPath: socket, path, headers: { host: "bench.localhost" } }, (res) => {
      res.once("data", () => resolve());
      res.resume();
      res.on("error", reject);
    });
    r.on("error", reject);
    r.end();
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (ms: number): number => Math.round(ms * 100) / 100;

export async function benchNodeCompat(): Promise<BenchRow[]> {
  const root = await mkdtemp(join(tmpdir(), "strata-bench-node-compat-"));
  const driver = new IsolateDriver({ home: new StrataHome(join(root, "home")) });
  try {
    const apps: Array<{ name: string; dir: string; path: string }> = [];
    const wrangler = (flags: string) => `name = "bench"\nmain = "index.js"\ncompatibility_date = "2025-01-01"\n${flags}`;
    const variants: Array<[string, readonly string[]]> = [
      ["hello, no flag", []],
      ["hello importing node:buffer (the Buffer and process globals every nodejs_compat bundle has)", ["buffer"]],
      ["hello importing node:util", ["util"]],
      ["hello importing node:stream", ["stream"]],
      ["hello importing every nodejs_compat module", EVERY_MODULE],
    ];
    for (const [name, modules] of variants) {
      const dir = join(root, `src-${apps.length}`);
      await mkdir(dir);
      await writeFile(join(dir, "wrangler.toml"), wrangler(modules.length ? 'compatibility_flags = ["nodejs_compat"]\n' : ""));
      await writeFile(join(dir, "index.js"), modules.map((m, i) => `import * as m${i} from "node:${m}";\nglobalThis.m${i} = m${i};\n`).join("") +
        'export default { fetch() { return new Response("hello"); } };\n');
      apps.push({ name, dir, path: "/" });
    }
    apps.push({ name: "the nodejs_compat fixture app (AsyncLocalStorage, lowered)", dir: FIXTURE, path: "/id" });

    // Built and warmed first, then started in turns, so that the host's load falls on each alike.
    const prepared = [];
    for (const [i, app] of apps.entries()) {
      const bundle = await build(app.dir, { outDir: join(root, `bundle-${i}`) });
      const size = (await stat(join(bundle.path, bundle.manifest.entry))).size;
      const p = await driver.prepare(bundle, spec(`prep-${i}`));
      const warm = await driver.start(p, spec(`warm-${i}`), { log: () => undefined });
      await firstByte((warm.endpoint as { socket: string }).socket, app.path);
      await driver.stop(warm, 0);
      prepared.push({ app, size, p, times: [] as number[] });
    }
    for (let n = 0; n < COLD_STARTS; n++) {
      for (const [i, x] of prepared.entries()) {
        await new Promise((r) => setTimeout(r, SPACING_MS));
        const t0 = performance.now();
        const inst = await driver.start(x.p, spec(`cold-${i}-${n}`), { log: () => undefined });
        await firstByte((inst.endpoint as { socket: string }).socket, x.app.path);
        x.times.push(performance.now() - t0);
        await driver.stop(inst, 0);
      }
    }
    const rows: BenchRow[] = [];
    const base = { size: prepared[0]!.size, cold: median(prepared[0]!.times) };
    for (const [i, x] of prepared.entries()) {
      const cold = median(x.times);
      const vs = i === 0 ? undefined : `+${Math.round((x.size - base.size) / 1024)} KiB, ${cold >= base.cold ? "+" : ""}${round(cold - base.cold)} ms vs hello without the flag`;
      rows.push({ name: `${x.app.name}: worker.js size`, value: Math.round(x.size / 1024), unit: "KiB", ...(vs && { peer: vs }) });
      rows.push({ name: `${x.app.name}: cold start (start → first byte), median of ${COLD_STARTS}`, value: round(cold), unit: "ms" });
    }
    return rows;
  } finally {
    await driver.close();
    await rm(root, { recursive: true, force: true });
  }
}
