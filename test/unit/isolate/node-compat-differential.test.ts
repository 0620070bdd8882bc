import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { build } from "../../../src/build/isolate/index.js";
import { StrataError } from "../../../src/errors.js";
import { StrataHome } from "../../../src/home.js";
import { IsolateDriver } from "../../../src/sandbox/isolate/index.js";
import { LogSink, spec } from "./helpers.js";
import { ACCEPTED } from "./node-compat-differences.js";
import { COMPATIBILITY_DATE, router, send, startWorkerd } from "./workerd-oracle.js";

/**
 * The nodejs_compat compatibility flag against workerd's: every worker in test/fixtures/node-compat (Node's
 * buffer, events, util, crypto, stream, string_decoder, async_hooks, process) runs under workerd with
 * `compatibilityFlags = ["nodejs_compat"]` and under Strata's isolates built from a wrangler.toml with the
 * same flag; their answers must agree unless node-compat-differences.ts lists the case with its reason.
 */
const CORPUS = join(import.meta.dirname, "../../fixtures/node-compat");
const FLAGS = ["nodejs_compat"];

test("node: modules under nodejs_compat answer as under workerd, except the listed differences", async (t) => {
  const names = (await readdir(CORPUS)).filter((f) => f.endsWith(".js")).map((f) => f.slice(0, -3)).sort();
  const root = await mkdtemp(join(tmpdir(), "strata-node-compat-diff-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const src = join(root, "src");
  await mkdir(src);
  for (const n of names) await copyFile(join(CORPUS, `${n}.js`), join(src, `${n}.js`));
  await writeFile(join(src, "index.js"), router(names));
  await writeFile(join(src, "wrangler.toml"), `name = "node-compat"\nmain = "index.js"\ncompatibility_date = "${COMPATIBILITY_DATE}"\ncompatibility_flags = ${JSON.stringify(FLAGS)}\n`);

  const port = await startWorkerd(t, src, names, FLAGS);
  const home = new StrataHome(join(root, "home"));
  const driver = new IsolateDriver({ home, cpuMsPerRequest: 2_000 });
  t.after(() => driver.close());
  const log: string[] = [];
  const bundle = await build(src, { outDir: join(home.builds, "corpus"), onLog: (l) => log.push(l) });
  assert.ok(log.some((l) => /AsyncLocalStorage: async functions lowered/.test(l)), log.join("\n"));
  const inst = await driver.start(await driver.prepare(bundle, spec("prepare")), spec("node-compat-1"), new LogSink());
  const socketPath = (inst.endpoint as { socket: string }).socket;

  const unexpected: string[] = [];
  const stale: string[] = [];
  let same = 0;
  for (const name of names) {
    const oracle = await send({ port }, `/${name}`);
    const ours = await send({ socketPath }, `/${name}`);
    const agree = oracle.status === ours.status && oracle.body === ours.body;
    if (agree) same++;
    if (!agree && !(name in ACCEPTED)) unexpected.push(`${name}:\n  workerd ${oracle.status} ${oracle.body}\n  strata  ${ours.status} ${ours.body}`);
    else if (agree && name in ACCEPTED) stale.push(name);
  }
  t.diagnostic(`${names.length} cases: ${same} agree with workerd, ${names.length - same} differ (${Object.keys(ACCEPTED).length} listed)`);
  assert.deepEqual(unexpected, [], "differences from workerd not listed in node-compat-differences.ts");
  assert.deepEqual(stale, [], "listed in node-compat-differences.ts but now agreeing with workerd: remove them");
  assert.deepEqual(Object.keys(ACCEPTED).filter((n) => !names.includes(n)), [], "listed with no such case in the corpus");
});

async function buildFails(t: { after(fn: () => Promise<void>): void }, wrangler: string, source: string): Promise<StrataError> {
  const dir = await mkdtemp(join(tmpdir(), "strata-node-compat-build-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "wrangler.toml"), `name = "w"\nmain = "index.js"\ncompatibility_date = "2025-01-01"\n${wrangler}`);
  await writeFile(join(dir, "index.js"), source);
  const err = await build(dir, { outDir: join(dir, "out") }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof StrataError, `the build should fail: ${String(err)}`);
  assert.equal(err.code, "BUILD_FAILED");
  return err;
}

test("without the flag, importing a node: module fails the build, saying to add nodejs_compat", async (t) => {
  const err = await buildFails(t, "", `import { Buffer } from "node:buffer";\nexport default { fetch: () => new Response(Buffer.from("x").toString("hex")) };\n`);
  assert.match(err.message, /index\.js:1:\d+: imports the Node\.js built-in module "node:buffer", which needs the nodejs_compat compatibility flag: add compatibility_flags = \["nodejs_compat"\] to wrangler\.toml/);
  const bare = await buildFails(t, "", `import { createHash } from "crypto";\nexport default { fetch: () => new Response(createHash("sha1").digest("hex")) };\n`);
  assert.match(bare.message, /"crypto", which needs the nodejs_compat compatibility flag/);
});

test("with the flag, a node: module Strata does not provide fails the build, naming those it has", async (t) => {
  const err = await buildFails(t, `compatibility_flags = ["nodejs_compat"]\n`, `import { readFileSync } from "node:fs";\nexport default { fetch: () => new Response(readFileSync("/etc/passwd")) };\n`);
  assert.match(err.message, /"node:fs", which Strata's nodejs_compat does not provide \(it has node:assert, node:assert\/strict, node:async_hooks, node:buffer, node:crypto, node:events, node:path, node:path\/posix, node:process, node:stream, node:stream\/promises, node:string_decoder, node:url, node:util, node:util\/types\)/);
});

test("a worker without AsyncLocalStorage keeps native async functions; compatibility_flags must be a list", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-node-compat-build-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "wrangler.json"), JSON.stringify({ name: "w", main: "index.js", compatibility_date: "2025-01-01", compatibility_flags: ["nodejs_compat"] }));
  await writeFile(join(dir, "index.js"), `import { EventEmitter } from "node:events";\nexport default { async fetch() { await null; return new Response(String(new EventEmitter().listenerCount("x"))); } };\n`);
  const log: string[] = [];
  const bundle = await build(dir, { outDir: join(dir, "out"), onLog: (l) => log.push(l) });
  assert.deepEqual(bundle.manifest.compatibilityFlags, ["nodejs_compat"]);
  assert.ok(log.some((l) => l.includes("nodejs_compat modules bundled: node:buffer, node:events, node:process")), log.join("\n"));
  assert.ok(!log.some((l) => l.includes("lowered")));
  await writeFile(join(dir, "wrangler.json"), JSON.stringify({ name: "w", main: "index.js", compatibility_date: "2025-01-01", compatibility_flags: "nodejs_compat" }));
  const err = await build(dir, { outDir: join(dir, "out2") }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof StrataError && err.code === "INVALID_CONFIG" && /compatibility_flags must be a list/.test(err.message), String(err));
});

test("a worker using AsyncLocalStorage is lowered with its own tsconfig: JSX compiles with its jsxFactory", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-node-compat-build-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "wrangler.toml"), `name = "w"\nmain = "index.tsx"\ncompatibility_date = "2025-01-01"\ncompatibility_flags = ["nodejs_compat"]\n`);
  await writeFile(join(dir, "tsconfig.json"), `{\n  // comments and trailing commas, as tsconfig allows\n  "compilerOptions": { "jsx": "react", "jsxFactory": "h", },\n}\n`);
  await writeFile(join(dir, "index.tsx"), [
    `import { AsyncLocalStorage } from "node:async_hooks";`,
    `const als = new AsyncLocalStorage<string>();`,
    `function h(tag: string, _props: unknown, ...children: string[]): string { return \`<\${tag}>\${children.join("")}</\${tag}>\`; }`,
    `export default { fetch: () => als.run("x", async () => { await null; return new Response(<p>{als.getStore()}</p>); }) };`,
  ].join("\n"));
  const log: string[] = [];
  const bundle = await build(dir, { outDir: join(dir, "out"), onLog: (l) => log.push(l) });
  assert.ok(log.some((l) => l.includes("async functions lowered")), log.join("\n"));
  const code = await readFile(join(bundle.path, "worker.js"), "utf8");
  assert.match(code, /h\("p", null, als\.getStore\(\)\)/);
  assert.doesNotMatch(code, /React\.createElement/);
});

test("process.env holds the worker's [vars] as text as under workerd: from compatibility date 2025-04-01, or with the flag", async (t) => {
  const vars = { GREETING: "hello", COUNT: 3, NESTED: { a: 1 } };
  const worker = `export default { fetch: () => Response.json({ env: process.env, greeting: process.env.GREETING ?? null, keys: Object.keys(process.env) }) };\n`;
  for (const [date, flags] of [["2025-01-01", ["nodejs_compat"]], ["2025-05-01", ["nodejs_compat"]], ["2025-01-01", ["nodejs_compat", "nodejs_compat_populate_process_env"]], ["2025-05-01", ["nodejs_compat", "nodejs_compat_do_not_populate_process_env"]]] as const) {
    const root = await mkdtemp(join(tmpdir(), "strata-node-compat-env-"));
    t.after(() => rm(root, { recursive: true, force: true }));
    const src = join(root, "src");
    await mkdir(src);
    await writeFile(join(src, "env.js"), worker);
    await writeFile(join(src, "index.js"), router(["env"]));
    await writeFile(join(src, "wrangler.toml"), `name = "env"\nmain = "index.js"\ncompatibility_date = "${date}"\ncompatibility_flags = ${JSON.stringify(flags)}\n[vars]\nGREETING = "hello"\nCOUNT = 3\nNESTED = { a = 1 }\n`);
    const port = await startWorkerd(t, src, ["env"], flags, { compatibilityDate: date, vars });
    const home = new StrataHome(join(root, "home"));
    const driver = new IsolateDriver({ home, cpuMsPerRequest: 2_000 });
    t.after(() => driver.close());
    const bundle = await build(src, { outDir: join(home.builds, "env") });
    const inst = await driver.start(await driver.prepare(bundle, spec("prepare")), spec("env-1"), new LogSink());
    const oracle = await send({ port }, "/env");
    const ours = await send({ socketPath: (inst.endpoint as { socket: string }).socket }, "/env");
    assert.deepEqual(ours, oracle, `compatibility date ${date}, flags ${flags.join(", ")}`);
  }
});
