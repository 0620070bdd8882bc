import { spawn } from "node:child_process";
import { request } from "node:http";
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import assert from "node:assert/strict";
import { build } from "../../../src/build/isolate/index.js";
import { StrataHome } from "../../../src/home.js";
import type { Instance } from "../../../src/sandbox/driver.js";
import { IsolateDriver } from "../../../src/sandbox/isolate/index.js";
import { LogSink, spec } from "./helpers.js";
import { ACCEPTED } from "./workerd-differences.js";

/**
 * workerd (Cloudflare's runtime) is the oracle: every worker in test/fixtures/web-api runs under it and
 * under Strata's isolates, and their answers must be the same, unless workerd-differences.ts lists the
 * case with its reason. A listed case that now agrees fails too, so the list only shrinks. A case is
 * sent a GET, or the request its module exports as `request` ({ method, headers, body }).
 */
const CORPUS = join(import.meta.dirname, "../../fixtures/web-api");
const WORKERD = join(import.meta.dirname, "../../../node_modules/.bin/workerd");
const COMPATIBILITY_DATE = "2025-01-01";
const REQUEST_TIMEOUT_MS = 5_000;

interface Answer { status: number; body: string }
interface CaseRequest { method?: string; headers?: Record<string, string>; body?: string }

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** One request, to a TCP port (workerd) or a unix socket (a Strata instance); a hang answers status -1. */
function send(target: { port: number } | { socketPath: string }, path: string, init: CaseRequest = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { host: "app.localhost", ...init.headers };
    const req = request({ ...target, host: "127.0.0.1", path, method: init.method ?? "GET", headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
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

/** The corpus as one module: each case is a module of its own, and the entry routes /NAME to it. */
function router(names: string[]): string {
  const imports = names.map((n, i) => `import c${i} from "./${n}.js";`).join("\n");
  const table = names.map((n, i) => `  ${JSON.stringify(n)}: c${i},`).join("\n");
  return `${imports}
const CASES = {
${table}
};
export default {
  async fetch(request, env, ctx) {
    const c = CASES[new URL(request.url).pathname.slice(1)];
    if (!c) return new Response("no such case", { status: 404 });
    try {
      return await c.fetch(request, env, ctx);
    } catch (e) {
      return new Response("threw " + (e && e.name) + ": " + (e && e.message), { status: 500 });
    }
  },
};
`;
}

function workerdConfig(names: string[], port: number): string {
  const modules = ["index", ...names].map((n) => `(name = "${n}.js", esModule = embed "${n}.js")`).join(",\n    ");
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .corpus) ],
  sockets = [ ( name = "http", address = "127.0.0.1:${port}", http = (), service = "main" ) ],
);
const corpus :Workerd.Worker = (
  modules = [
    ${modules}
  ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
);
`;
}

async function startWorkerd(t: { after(fn: () => Promise<void>): void }, dir: string, names: string[]): Promise<number> {
  const port = await freePort();
  await writeFile(join(dir, "config.capnp"), workerdConfig(names, port));
  const p = spawn(WORKERD, ["serve", join(dir, "config.capnp")], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  t.after(async () => {
    // workerd ignores SIGTERM (seen on this host): SIGKILL ends it.
    if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    await exited;
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await send({ port }, "/").then(() => true, () => false);
    if (up) return port;
    if (p.exitCode !== null) throw new Error(`workerd exited (${p.exitCode}): ${stderr}`);
    if (Date.now() > deadline) throw new Error(`workerd did not answer within 15 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startStrata(t: { after(fn: () => Promise<void>): void }, root: string, src: string): Promise<Instance> {
  const home = new StrataHome(join(root, "home"));
  // A generous CPU budget: the corpus compares behaviour, not speed, on a busy machine.
  const driver = new IsolateDriver({ home, cpuMsPerRequest: 2_000 });
  t.after(() => driver.close());
  const prepared = await driver.prepare(await build(src, { outDir: join(home.builds, "corpus") }), spec("prepare"));
  return await driver.start(prepared, spec("corpus-1"), new LogSink());
}

test("Web API behaviours answer as under workerd, except the listed differences", async (t) => {
  const names = (await readdir(CORPUS)).filter((f) => f.endsWith(".js")).map((f) => f.slice(0, -3)).sort();
  const root = await mkdtemp(join(tmpdir(), "strata-workerd-diff-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const src = join(root, "src");
  await mkdir(src);
  for (const n of names) await copyFile(join(CORPUS, `${n}.js`), join(src, `${n}.js`));
  await writeFile(join(src, "index.js"), router(names));

  const port = await startWorkerd(t, src, names);
  const inst = await startStrata(t, root, src);
  const socketPath = (inst.endpoint as { socket: string }).socket;

  const unexpected: string[] = [];
  const stale: string[] = [];
  let same = 0;
  for (const name of names) {
    const init = ((await import(pathToFileURL(join(CORPUS, `${name}.js`)).href)) as { request?: CaseRequest }).request;
    const oracle = await send({ port }, `/${name}`, init);
    const ours = await send({ socketPath }, `/${name}`, init);
    const agree = oracle.status === ours.status && oracle.body === ours.body;
    if (agree) same++;
    if (!agree && !(name in ACCEPTED)) {
      unexpected.push(`${name}:\n  workerd ${oracle.status} ${oracle.body}\n  strata  ${ours.status} ${ours.body}`);
    } else if (agree && name in ACCEPTED) stale.push(name);
  }
  const unknown = Object.keys(ACCEPTED).filter((n) => !names.includes(n));
  t.diagnostic(`${names.length} cases: ${same} agree with workerd, ${names.length - same} differ (${Object.keys(ACCEPTED).length} listed)`);
  assert.deepEqual(unexpected, [], "differences from workerd not listed in workerd-differences.ts");
  assert.deepEqual(stale, [], "listed in workerd-differences.ts but now agreeing with workerd: remove them");
  assert.deepEqual(unknown, [], "listed in workerd-differences.ts with no such case in the corpus");
});
