import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { build, detect } from "../../../src/build/isolate/index.js";
import { checkedCompatibilityDate, parseJsonc, parseWranglerToml, readWranglerConfig } from "../../../src/config/wrangler-config.js";
import { StrataError } from "../../../src/errors.js";
import { FIXTURES } from "./helpers.js";

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "strata-iso-build-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("wrangler.toml: name, main, compatibility_date and [vars] are read; other tables ignored", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "wrangler.toml"), 
    'name = "x" # comment\nmain = "src/a.ts"\ncompatibility_date = \'2024-01-01\'\n[vars]\nA = "1 # not a comment"\nB = 2\nC = true\n[[routes]]\npattern = "x"\n[env.prod.vars]\nA = "prod"\n',
  );
  const cfg = await readWranglerConfig(dir);
  assert.deepEqual(cfg, { file: "wrangler.toml", name: "x", main: "src/a.ts", compatibilityDate: "2024-01-01", vars: { A: "1 # not a comment", B: 2, C: true }, kvNamespaces: [], compatibilityFlags: [] });
});

test("wrangler kv_namespaces: each binding names a namespace by its id (else preview_id, else its own name)", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "wrangler.toml"),
    '[[kv_namespaces]]\nbinding = "CACHE"\nid = "0f2ac74b498b48028cb68387c421e279"\n' +
    '[[kv_namespaces]]\nbinding = "PREVIEW"\npreview_id = "prev"\n[[kv_namespaces]]\nbinding = "LOCAL"\n');
  assert.deepEqual((await readWranglerConfig(dir))?.kvNamespaces, [
    { binding: "CACHE", id: "0f2ac74b498b48028cb68387c421e279" },
    { binding: "PREVIEW", id: "prev" },
    { binding: "LOCAL", id: "LOCAL" },
  ]);
  const refused = async (text: string, re: RegExp): Promise<void> => {
    await writeFile(join(dir, "wrangler.toml"), text);
    await assert.rejects(readWranglerConfig(dir), (e: unknown) => e instanceof StrataError && e.code === "INVALID_CONFIG" && re.test(e.message));
  };
  await refused('kv_namespaces = "KV"\n', /kv_namespaces must be a list of \{ binding, id \}/);
  await refused('[[kv_namespaces]]\nid = "x"\n', /kv_namespaces\[0\] needs a "binding"/);
  await refused('[[kv_namespaces]]\nbinding = "A"\n[[kv_namespaces]]\nbinding = "A"\n', /binds "A" twice/);
  await refused('[[kv_namespaces]]\nbinding = "A"\nid = "../x"\n', /id "..\/x" may hold only/);
});

test("compatibility_date: a real date, not in the future, as Workers requires", () => {
  const today = new Date("2026-11-25T12:00:00Z");
  assert.equal(checkedCompatibilityDate("2024-09-23", "wrangler.toml", today), "2024-09-23");
  assert.equal(checkedCompatibilityDate("2026-11-25", "wrangler.toml", today), "2026-11-25");
  assert.equal(checkedCompatibilityDate(undefined, "wrangler.toml", today), undefined);
  const invalid = (re: RegExp) => (e: unknown) => e instanceof StrataError && e.code === "INVALID_CONFIG" && re.test(e.message);
  assert.throws(() => checkedCompatibilityDate("2026-11-26", "wrangler.toml", today), invalid(/wrangler\.toml: compatibility_date 2026-11-26 is in the future/));
  for (const bad of ["2024-02-30", "2024-1-1", "yesterday"]) {
    assert.throws(() => checkedCompatibilityDate(bad, "wrangler.json", today), invalid(/not a date in the form YYYY-MM-DD/), bad);
  }
});

test("wrangler.toml: a syntax error names the file and line", () => {
  assert.throws(() => parseWranglerToml('name = "x"\nmain = = "y"\n', "wrangler.toml"), (e: unknown) => e instanceof StrataError && e.code === "INVALID_CONFIG" && /wrangler\.toml:2/.test(e.message));
});

test("wrangler.jsonc: comments and trailing commas are accepted, strings keep // and /*", () => {
  const cfg = parseJsonc('{\n // c\n "main": "a.js", /* c */ "url": "http://x//y/*z*/",\n "vars": {"A": "1",},\n}', "wrangler.jsonc");
  assert.deepEqual(cfg, { main: "a.js", url: "http://x//y/*z*/", vars: { A: "1" } });
  // A comma before a brace inside a string is the string's, not a trailing comma.
  assert.deepEqual(parseJsonc('{"vars": {"CSV": "a,}"}}', "wrangler.jsonc"), { vars: { CSV: "a,}" } });
});

test("wrangler.jsonc: a syntax error names the file, line and column; a file that is not an object is refused", () => {
  const bad = (text: string, pattern: RegExp) =>
    assert.throws(() => parseJsonc(text, "wrangler.jsonc"), (e: unknown) => e instanceof StrataError && e.code === "INVALID_CONFIG" && pattern.test(e.message));
  bad('{\n  "main": "a.js"\n  "name": "x"\n}', /^wrangler\.jsonc:3:3: not valid JSON: CommaExpected/);
  bad('["main"]', /must hold one JSON object/);
});

test("detect: wrangler.toml worker, wrangler.jsonc worker, WASI app, bare worker entry, non-isolate dir", async (t) => {
  const ts = await detect(join(FIXTURES, "isolate-ts"));
  assert.equal(ts?.kind, "worker");
  assert.equal(ts?.entry, "src/index.ts");
  assert.deepEqual(ts?.vars, { GREETING: "hello", LIMIT: 3 });
  assert.equal(ts?.compatibilityDate, "2024-09-23");
  const js = await detect(join(FIXTURES, "isolate-js-dep"));
  assert.equal(js?.entry, "worker.js");
  assert.deepEqual(js?.vars, { WHO: "vendored" });
  const wasi = await detect(join(FIXTURES, "isolate-wasi"));
  assert.equal(wasi?.kind, "wasi-cgi");
  assert.equal(wasi?.entry, "hello.wasm");
  const bare = await detect(join(FIXTURES, "isolate-webapi"));
  assert.equal(bare?.kind, "worker");
  assert.equal(bare?.entry, "index.js");

  const dir = await tempDir(t);
  await writeFile(join(dir, "index.js"), "console.log('a plain script');\n");
  assert.equal(await detect(dir), null);
  await writeFile(join(dir, "app.yaml"), "runtime: python312\n");
  assert.equal(await detect(dir), null);
  await writeFile(join(dir, "app.yaml"), "runtime: workers\nentrypoint: index.js\n");
  assert.equal((await detect(dir))?.entry, "index.js");
});

test("build: a TypeScript worker becomes one ES module with its manifest", async (t) => {
  const out = join(await tempDir(t), "bundle");
  const lines: string[] = [];
  const bundle = await build(join(FIXTURES, "isolate-ts"), { outDir: out, onLog: (l) => lines.push(l) });
  assert.equal(bundle.kind, "isolate-bundle");
  assert.match(bundle.digest, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual((await readdir(out)).sort(), ["manifest.json", "worker.js"]);
  const manifest = JSON.parse(await readFile(join(out, "manifest.json"), "utf8"));
  assert.deepEqual(manifest, {
    format: "strata-isolate-bundle/1", entry: "worker.js", kind: "worker", name: "ts-worker",
    compatibilityDate: "2024-09-23", vars: { GREETING: "hello", LIMIT: 3 }, kvNamespaces: [], compatibilityFlags: [], wasmModules: [],
  });
  assert.match(await readFile(join(out, "worker.js"), "utf8"), /export\s*\{[^}]*default/);
  assert.ok(lines.some((l) => l.includes("wrangler.toml")));
  const again = await build(join(FIXTURES, "isolate-ts"), { outDir: join(out, "..", "again") });
  assert.equal(again.digest, bundle.digest, "the same source builds to the same digest");
});

test("build: a vendored node_modules dependency is bundled and a .wasm import is kept as a module file", async (t) => {
  const out = join(await tempDir(t), "bundle");
  const bundle = await build(join(FIXTURES, "isolate-js-dep"), { outDir: out });
  assert.equal(bundle.manifest.wasmModules.length, 1);
  const wasm = bundle.manifest.wasmModules[0]!;
  assert.match(wasm, /^add-[0-9a-f]{12}\.wasm$/);
  const code = await readFile(join(out, "worker.js"), "utf8");
  assert.ok(code.includes(`"./${wasm}"`));
  assert.ok(code.includes("hello, "), "tiny-greet was inlined");
});

test("build: importing a Node built-in fails with BUILD_FAILED naming the module", async (t) => {
  await assert.rejects(build(join(FIXTURES, "isolate-node-builtin"), { outDir: join(await tempDir(t), "out") }), (err: unknown) => {
    assert.ok(err instanceof StrataError);
    assert.equal(err.code, "BUILD_FAILED");
    assert.match(err.message, /Node\.js built-in module "node:fs", which needs the nodejs_compat compatibility flag/);
    assert.match(err.message, /index\.js:1/);
    return true;
  });
});

test("build: bare built-in names are refused unless vendored; a missing module fails the build", async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, "src"));
  await writeFile(join(dir, "src", "index.ts"), 'import { join } from "path/posix";\nexport default { fetch() { return new Response(join("a", "b")); } };\n');
  await assert.rejects(build(dir, { outDir: join(dir, "out") }), /Node\.js built-in module "path\/posix", which needs the nodejs_compat compatibility flag/);
  await mkdir(join(dir, "node_modules", "events"), { recursive: true });
  await writeFile(join(dir, "node_modules", "events", "index.js"), "exports.name = 'vendored events';\n");
  await writeFile(join(dir, "src", "index.ts"), 'import { name } from "events";\nexport default { fetch() { return new Response(name); } };\n');
  const ok = await build(dir, { outDir: join(dir, "out-events") });
  assert.ok((await readFile(join(ok.path, "worker.js"), "utf8")).includes("vendored events"));
  await writeFile(join(dir, "src", "index.ts"), 'import x from "not-installed";\nexport default { fetch() { return new Response(x); } };\n');
  await assert.rejects(build(dir, { outDir: join(dir, "out") }), (err: unknown) => err instanceof StrataError && err.code === "BUILD_FAILED" && /not-installed/.test(err.message));
});

test("build: app.yaml runtime: wasi needs a WASI command (_start and memory exports)", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "app.yaml"), "runtime: wasi\n");
  await writeFile(join(dir, "lib.wasm"), await readFile(join(FIXTURES, "isolate-js-dep", "add.wasm")));
  await assert.rejects(build(dir, { outDir: join(dir, "out") }), (err: unknown) =>
    err instanceof StrataError && err.code === "BUILD_FAILED" && /lib\.wasm is not a WASI command/.test(err.message));
});
