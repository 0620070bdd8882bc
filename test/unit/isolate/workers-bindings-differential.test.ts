import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import WebSocket from "ws";
import { build } from "../../../src/build/isolate/index.js";
import { StrataHome } from "../../../src/home.js";
import { IsolateDriver } from "../../../src/sandbox/isolate/index.js";
import { LogSink, spec } from "./helpers.js";
import { ACCEPTED } from "./workers-bindings-differences.js";

/**
 * Bindings and platform APIs (KV, the Cache API, ctx.waitUntil, vars) as workerd has them: every worker in
 * test/fixtures/workers-bindings runs under workerd, configured by Miniflare (which gives workerd its
 * KV storage, as `wrangler dev` does), and under Strata's isolates, configured by a wrangler.toml; their
 * answers must agree unless workers-bindings-differences.ts lists the case with its reason. A case is
 * sent a GET, or the requests its module exports as `requests` ({ method, path, body, pauseMs }), in
 * order; each case has a KV namespace of its own, env.KV. A case that exports `websocket` (messages: a
 * string, or { binary: [bytes] }) is instead opened as a WebSocket, sent them, and its frames and close compared.
 */
const CORPUS = join(import.meta.dirname, "../../fixtures/workers-bindings");
const COMPATIBILITY_DATE = "2025-01-01";
const VARS = { GREETING: "hi", LIMITS: { max: 3 } };
const REQUEST_TIMEOUT_MS = 5_000;

interface CaseRequest { method?: string; path?: string; body?: string; pauseMs?: number }
type WsMessage = string | { binary: number[] };

/** Opens `url` as a WebSocket, sends `messages` in order, and lists what comes back until it closes. */
function converse(url: string, messages: WsMessage[], opts: WebSocket.ClientOptions = {}): Promise<string[]> {
  return new Promise((resolve) => {
    const got: string[] = [];
    const ws = new WebSocket(url, opts);
    const timer = setTimeout(() => {
      got.push(`no close within ${REQUEST_TIMEOUT_MS} ms`);
      ws.terminate();
      resolve(got);
    }, REQUEST_TIMEOUT_MS);
    ws.on("open", () => {
      for (const m of messages) ws.send(typeof m === "string" ? m : Buffer.from(m.binary));
    });
    ws.on("message", (data: Buffer, isBinary: boolean) => got.push(isBinary ? `binary ${[...data].join(",")}` : `text ${data.toString("utf8")}`));
    ws.on("unexpected-response", (_req, res) => {
      got.push(`refused ${res.statusCode ?? 0}`);
      clearTimeout(timer);
      resolve(got);
    });
    ws.on("error", (err) => got.push(`error ${err.message}`));
    ws.on("close", (code: number, reason: Buffer) => {
      got.push(`close ${code} ${reason.toString("utf8")}`);
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/** The corpus as one worker: /NAME runs case NAME with env.KV set to its own namespace, KV_<index>. */
function router(names: string[]): string {
  const imports = names.map((n, i) => `import c${i} from "./${n}.js";`).join("\n");
  const table = names.map((n, i) => `  ${JSON.stringify(n)}: [c${i}, "KV_${i}"],`).join("\n");
  return `${imports}
const CASES = {
${table}
};
export default {
  async fetch(request, env, ctx) {
    const c = CASES[new URL(request.url).pathname.slice(1)];
    if (!c) return new Response("no such case", { status: 404 });
    try {
      return await c[0].fetch(request, { ...env, KV: env[c[1]] }, ctx);
    } catch (e) {
      return new Response("threw " + (e && e.name) + ": " + (e && e.message), { status: 500 });
    }
  },
};
`;
}

function wranglerToml(names: string[]): string {
  const kv = names.map((_, i) => `[[kv_namespaces]]\nbinding = "KV_${i}"\nid = "ns-${i}"\n`).join("\n");
  return `name = "bindings-corpus"\nmain = "index.js"\ncompatibility_date = "${COMPATIBILITY_DATE}"\n\n` +
    `[vars]\nGREETING = "${VARS.GREETING}"\nLIMITS = { max = ${VARS.LIMITS.max} }\n\n${kv}`;
}

function send(socketPath: string, path: string, init: CaseRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: init.method ?? "GET", headers: { host: "app.localhost" }, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => {
      req.destroy();
      resolve({ status: -1, body: `no answer within ${REQUEST_TIMEOUT_MS} ms` });
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

test("bindings (KV, Cache API, HTMLRewriter, WebSockets, waitUntil, vars) answer as under workerd, except the listed differences", async (t) => {
  const names = (await readdir(CORPUS)).filter((f) => f.endsWith(".js")).map((f) => f.slice(0, -3)).sort();
  const root = await mkdtemp(join(tmpdir(), "strata-bindings-diff-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const src = join(root, "src");
  await mkdir(src);
  for (const n of names) await copyFile(join(CORPUS, `${n}.js`), join(src, `${n}.js`));
  await writeFile(join(src, "index.js"), router(names));
  await writeFile(join(src, "wrangler.toml"), wranglerToml(names));

  const mf = new Miniflare({
    modulesRoot: src,
    modules: ["index", ...names].map((n) => ({ type: "ESModule" as const, path: join(src, `${n}.js`) })),
    compatibilityDate: COMPATIBILITY_DATE,
    kvNamespaces: Object.fromEntries(names.map((_, i) => [`KV_${i}`, `ns-${i}`])),
    kvPersist: false,
    bindings: VARS,
  });
  t.after(() => mf.dispose());
  const mfUrl = await mf.ready;

  const home = new StrataHome(join(root, "home"));
  // A generous CPU budget: the corpus compares behaviour, not speed, on a busy machine.
  const driver = new IsolateDriver({ home, cpuMsPerRequest: 2_000 });
  t.after(() => driver.close());
  const prepared = await driver.prepare(await build(src, { outDir: join(home.builds, "corpus") }), spec("prepare"));
  const inst = await driver.start(prepared, spec("bindings-1"), new LogSink());
  const socketPath = (inst.endpoint as { socket: string }).socket;

  const unexpected: string[] = [];
  const stale: string[] = [];
  let same = 0;
  for (const name of names) {
    const mod = (await import(pathToFileURL(join(CORPUS, `${name}.js`)).href)) as { requests?: CaseRequest[]; websocket?: WsMessage[] };
    const oracle: string[] = [];
    const ours: string[] = [];
    if (mod.websocket) {
      oracle.push(...(await converse(new URL(`/${name}`, mfUrl).href.replace(/^http/, "ws"), mod.websocket)));
      ours.push(...(await converse(`ws+unix://${socketPath}:/${name}`, mod.websocket, { headers: { host: "app.localhost" } })));
    }
    for (const r of mod.websocket ? [] : mod.requests ?? [{}]) {
      if (r.pauseMs) await new Promise((res) => setTimeout(res, r.pauseMs));
      const path = `/${name}${r.path ?? ""}`;
      const res = await mf.dispatchFetch(`http://app.localhost${path}`, { method: r.method ?? "GET", ...(r.body !== undefined && { body: r.body }) });
      oracle.push(`${res.status} ${await res.text()}`);
      const o = await send(socketPath, path, r);
      ours.push(`${o.status} ${o.body}`);
    }
    const agree = JSON.stringify(oracle) === JSON.stringify(ours);
    if (agree) same++;
    if (!agree && !(name in ACCEPTED)) unexpected.push(`${name}:\n  workerd ${oracle.join("\n          ")}\n  strata  ${ours.join("\n          ")}`);
    else if (agree && name in ACCEPTED) stale.push(name);
  }
  const unknown = Object.keys(ACCEPTED).filter((n) => !names.includes(n));
  t.diagnostic(`${names.length} cases: ${same} agree with workerd, ${names.length - same} differ (${Object.keys(ACCEPTED).length} listed)`);
  assert.deepEqual(unexpected, [], "differences from workerd not listed in workers-bindings-differences.ts");
  assert.deepEqual(stale, [], "listed in workers-bindings-differences.ts but now agreeing with workerd: remove them");
  assert.deepEqual(unknown, [], "listed in workers-bindings-differences.ts with no such case in the corpus");
});
