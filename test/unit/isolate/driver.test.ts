import assert from "node:assert/strict";
import { access, readdir } from "node:fs/promises";
import { test } from "node:test";
import { call, LogSink, newDriver, prepareFixture, spec } from "./helpers.js";
import { engineIndexOf } from "../../../src/sandbox/isolate/driver.js";
import { exec } from "../../../src/system/exec.js";
import { processExists } from "../../../src/system/process.js";

test("probe: isolated-vm loads and the engine starts, and the probe's engine is gone when it returns", async (t) => {
  const { driver } = await newDriver(t);
  const probe = await driver.probe();
  assert.equal(probe.available, true, probe.reason);
  // ps exits 1 when this process has no children left.
  const children = await exec(["ps", "-o", "args=", "--ppid", String(process.pid)], { okCodes: [0, 1] });
  assert.doesNotMatch(children.stdout, /engine\/main/, "the probe left its engine running");
  assert.equal(driver.capabilities.isolation, "v8-isolate");
  assert.deepEqual(driver.capabilities.imageKinds, ["isolate-bundle"]);
  assert.equal(driver.capabilities.sharedProcess, true);
});

test("a TypeScript worker (wrangler.toml) answers over its socket with env, vars, logs, Web APIs", async (t) => {
  const { driver, home } = await newDriver(t);
  const prepared = await prepareFixture(driver, home, "isolate-ts");
  const logs = new LogSink();
  const inst = await driver.start(prepared, spec("ts-1", { APP_SECRET: "s3cret", GREETING: "hi" }), logs);
  assert.ok("socket" in inst.endpoint);

  const root = await call(inst, "/");
  assert.equal(root.status, 200);
  assert.equal(root.body, "hi from typescript", "app env (app.yaml) wins over wrangler [vars]");
  assert.equal(root.headers["x-worker"], "isolate-ts");
  assert.deepEqual(JSON.parse((await call(inst, "/env")).body), { greeting: "hi", limit: 3, secret: "s3cret" });

  assert.equal((await call(inst, "/log?who=test")).body, "logged");
  await logs.waitFor(/^stdout: log line from test$/);
  await logs.waitFor(/^stderr: error line$/);

  const echo = await call(inst, "/echo?q=1", { method: "POST", body: JSON.stringify({ a: [1, 2] }), headers: { "content-type": "application/json" } });
  assert.deepEqual(JSON.parse(echo.body), { method: "POST", body: { a: [1, 2] }, q: "1" });
  assert.equal((await call(inst, "/stream")).body, "ab|aGk=|hi");
  const c = JSON.parse((await call(inst, "/crypto")).body);
  assert.equal(c.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(c.hmac.length, 64);
  assert.match(c.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(JSON.parse((await call(inst, "/timer")).body), { waited: true, map: "x", date: "1970-01-01T00:00:00.000Z" });
  assert.equal((await call(inst, "/waituntil")).status, 202);
  await logs.waitFor(/waitUntil done/);
  assert.equal((await call(inst, "/nope")).status, 404);

  const state = await driver.inspect(inst);
  assert.equal(state.status, "running");
  assert.ok(state.status === "running" && (state.memoryBytes ?? 0) > 0);
});

test("the prelude's Web APIs behave (headers, URL, bodies, streams, encoding, crypto, clone, timers, sandbox)", async (t) => {
  const { driver, home } = await newDriver(t);
  const inst = await driver.start(await prepareFixture(driver, home, "isolate-webapi"), spec("webapi-1"), new LogSink());
  const results = JSON.parse((await call(inst, "/")).body) as Record<string, string>;
  for (const [name, outcome] of Object.entries(results)) assert.equal(outcome, "ok", `${name}: ${outcome}`);
  assert.equal(Object.keys(results).length, 8);
});

test("a JS worker with a vendored dependency and a WASM import; a WASI CGI program", async (t) => {
  const { driver, home } = await newDriver(t);
  const js = await driver.start(await prepareFixture(driver, home, "isolate-js-dep"), spec("js-1"), new LogSink());
  assert.equal((await call(js, "/")).body, "HELLO, VENDORED!");
  assert.equal((await call(js, "/add?a=2&b=40")).body, "42");

  const logs = new LogSink();
  const wasi = await driver.start(await prepareFixture(driver, home, "isolate-wasi"), spec("wasi-1"), logs);
  const r = await call(wasi, "/some/path?x=1", { method: "POST", body: "ping", headers: { "x-client": "tester" } });
  assert.equal(r.status, 200);
  assert.equal(r.headers["x-powered-by"], "wasi");
  assert.equal(r.body, "method=POST path=/some/path query=x=1 client=tester body=ping\n");
  await logs.waitFor(/^stderr: wasi cgi served POST \/some\/path$/);
  const missing = await call(wasi, "/missing");
  assert.equal(missing.status, 404);
  assert.equal(missing.body, "no such page\n");
});

test("tenants are isolated: no shared globals; outbound fetch to loopback/private is refused", async (t) => {
  const { driver, home } = await newDriver(t);
  const prepared = await prepareFixture(driver, home, "isolate-ts");
  const a = await driver.start(prepared, spec("iso-a"), new LogSink());
  const b = await driver.start(prepared, spec("iso-b"), new LogSink());
  assert.equal((await call(a, "/set-global?v=tenant-a-secret")).body, "set");
  assert.equal((await call(a, "/get-global")).body, "tenant-a-secret");
  assert.equal((await call(b, "/get-global")).body, "undefined");

  for (const target of ["http://127.0.0.1:9/", "http://localhost:9/", "http://[::1]:9/", "http://10.1.2.3/", "http://169.254.169.254/latest", "http://0.0.0.0:9/"]) {
    const r = await call(a, `/fetch?url=${encodeURIComponent(target)}`);
    assert.equal(r.status, 502, target);
    assert.match(r.body, /refused: .*(loopback, private, link-local or unspecified)/, target);
  }
});

test("an infinite loop is cut off at the CPU limit with a clear log line; another tenant keeps answering", async (t) => {
  const { driver, home } = await newDriver(t, { cpuMsPerRequest: 50 });
  const prepared = await prepareFixture(driver, home, "isolate-ts");
  const loopLogs = new LogSink();
  const looper = await driver.start(prepared, spec("loop-a"), loopLogs);
  const other = await driver.start(prepared, spec("loop-b"), new LogSink());

  const looping = call(looper, "/loop");
  const meanwhile = await Promise.all([call(other, "/"), call(other, "/"), call(other, "/")]);
  for (const r of meanwhile) assert.equal(r.body, "hello from typescript");
  const cut = await looping;
  assert.equal(cut.status, 503);
  assert.match(cut.body, /request exceeded its CPU limit of 50 ms; the isolate was reset/);
  await loopLogs.waitFor(/^stderr: request exceeded its CPU limit of 50 ms; the isolate was reset$/);
  // The reset tenant comes back with a fresh isolate.
  assert.equal((await call(looper, "/")).body, "hello from typescript");
  assert.equal((await call(looper, "/hits")).body, "2");
});

test("many light requests and a slow one in flight together stay within the CPU budget", async (t) => {
  const { driver, home } = await newDriver(t, { cpuMsPerRequest: 20 });
  const logs = new LogSink();
  const inst = await driver.start(await prepareFixture(driver, home, "isolate-ts"), spec("busy-1"), logs);
  const slow = call(inst, "/timer");
  for (let round = 0; round < 10; round++) {
    const batch = await Promise.all(Array.from({ length: 30 }, () => call(inst, "/crypto")));
    for (const r of batch) assert.equal(r.status, 200);
  }
  assert.equal((await slow).status, 200);
  assert.ok(!logs.lines.some((l) => /CPU limit/.test(l)), logs.lines.join("\n"));
});

test("stop() then start() (scale to zero and back); engine and sockets are gone after close()", async (t) => {
  const { driver, home } = await newDriver(t);
  const prepared = await prepareFixture(driver, home, "isolate-ts");
  const first = await driver.start(prepared, spec("z-1"), new LogSink());
  assert.equal((await call(first, "/")).status, 200);
  const socket = (first.endpoint as { socket: string }).socket;
  const pid = first.handle.data["enginePid"] as number;
  assert.ok(processExists(pid));

  await driver.stop(first, 1_000);
  await driver.stop(first, 1_000); // idempotent
  await assert.rejects(access(socket), /ENOENT/);
  assert.deepEqual(await driver.inspect(first), { status: "gone" });

  const again = await driver.start(prepared, spec("z-1"), new LogSink());
  assert.equal((await call(again, "/")).body, "hello from typescript");
  assert.equal((await call(again, "/hits")).body, "2", "a fresh isolate: module state starts over");

  await driver.sweep(new Set());
  await assert.rejects(access(socket), /ENOENT/);
  assert.deepEqual(await readdir(home.runtime("isolate")), []);
  assert.equal(await driver.recover(again.handle, new LogSink()), null);

  await driver.close();
  for (let i = 0; i < 100 && processExists(pid); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(processExists(pid), false, "the engine process ended");
});

test("a worker that throws at start-up fails start() with its error", async (t) => {
  const { mkdir, writeFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const { build } = await import("../../../src/build/isolate/index.js");
  const { driver, home } = await newDriver(t);
  const src = join(home.root, "bad-src");
  await mkdir(src, { recursive: true });
  await writeFile(join(src, "index.js"), 'throw new Error("boom at load");\nexport default { fetch() { return new Response("x"); } };\n');
  const prepared = await driver.prepare(await build(src, { outDir: join(home.builds, "bad") }), spec("bad"));
  const logs = new LogSink();
  await assert.rejects(driver.start(prepared, spec("bad-1"), logs), /the worker failed to start: boom at load/);
  await logs.waitFor(/boom at load/);
});

test("when the engine process dies its instances report exited and the next start() brings up a new engine", async (t) => {
  const { driver, home } = await newDriver(t);
  const prepared = await prepareFixture(driver, home, "isolate-ts");
  const inst = await driver.start(prepared, spec("crash-1"), new LogSink());
  const pid = inst.handle.data["enginePid"] as number;
  process.kill(pid, "SIGKILL");
  for (let i = 0; i < 100 && processExists(pid); i++) await new Promise((r) => setTimeout(r, 20));
  let state = await driver.inspect(inst);
  for (let i = 0; i < 100 && state.status === "running"; i++) {
    await new Promise((r) => setTimeout(r, 20));
    state = await driver.inspect(inst);
  }
  assert.deepEqual(state, { status: "exited", code: 137, reason: "killed" });
  await driver.stop(inst, 0);
  const next = await driver.start(prepared, spec("crash-2"), new LogSink());
  assert.notEqual(next.handle.data["enginePid"], pid);
  assert.equal((await call(next, "/")).body, "hello from typescript");
});

test("tenants are spread over engine processes by app: one engine's crash ends only its apps, and others keep answering", async (t) => {
  const { driver, home } = await newDriver(t, { engines: 2 });
  const prepared = await prepareFixture(driver, home, "isolate-ts");
  // Two apps that land in different engines, and a second instance of the first app (the same engine).
  const apps = ["alpha", "beta", "gamma", "delta"];
  const first = apps[0]!;
  const other = apps.find((a) => engineIndexOf(a, 2) !== engineIndexOf(first, 2))!;
  const a1 = await driver.start(prepared, { ...spec("spread-a1"), app: first }, new LogSink());
  const a2 = await driver.start(prepared, { ...spec("spread-a2"), app: first }, new LogSink());
  const b1 = await driver.start(prepared, { ...spec("spread-b1"), app: other }, new LogSink());
  const pidA = a1.handle.data["enginePid"] as number;
  assert.equal(a2.handle.data["enginePid"], pidA, "one app's instances share its engine");
  assert.notEqual(b1.handle.data["enginePid"], pidA, "another app runs in another engine");

  process.kill(pidA, "SIGKILL"); // what an isolated-vm abort (#293) does to the process
  for (let i = 0; i < 100 && processExists(pidA); i++) await new Promise((r) => setTimeout(r, 20));
  for (const inst of [a1, a2]) {
    let state = await driver.inspect(inst);
    for (let i = 0; i < 100 && state.status === "running"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      state = await driver.inspect(inst);
    }
    assert.deepEqual(state, { status: "exited", code: 137, reason: "killed" });
  }
  assert.equal((await driver.inspect(b1)).status, "running", "the other engine's tenant lives on");
  assert.equal((await call(b1, "/")).body, "hello from typescript");
  const again = await driver.start(prepared, { ...spec("spread-a3"), app: first }, new LogSink());
  assert.notEqual(again.handle.data["enginePid"], pidA, "the crashed engine's slot starts a new engine");
  assert.equal((await call(again, "/")).body, "hello from typescript");
});
