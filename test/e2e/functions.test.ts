import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFile, cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { release } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";
import { ensureBaseImages } from "../support/base-images.js";
import { buildRustBootstrap, RUST_FUNCTION_DIR } from "../support/rust-function.js";

/**
 * Hosted functions end to end: a real daemon, real function images, instances in the function's sandbox
 * (runc by default until the microvm driver lands), Lambda's Runtime API on the bridge address, the CLI,
 * the invoke API and function URLs through the router.
 */
const FIXTURES = join(REPO, "test", "fixtures", "functions");
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

interface Invoked {
  status: number;
  functionError: string | undefined;
  requestId: string;
  body: Record<string, unknown>;
}

async function invoke(name: string, payload: unknown): Promise<Invoked> {
  const r = await d.api("POST", `/v1/functions/${name}/invocations`, { body: JSON.stringify(payload), headers: { "content-type": "application/json" } });
  return { status: r.status, functionError: r.headers["x-amz-function-error"] as string | undefined, requestId: String(r.headers["x-amzn-requestid"]), body: JSON.parse(r.text) as Record<string, unknown> };
}

async function instancesOf(name: string): Promise<Array<{ id: string; state: string }>> {
  const r = await d.api("GET", `/v1/apps/${name}/instances`);
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text) as Array<{ id: string; state: string }>;
}

async function logLines(name: string): Promise<string[]> {
  return (await d.cliOk(["functions", "logs", name, "-n", "1000"])).split("\n");
}

/** The REPORT line of one invocation (written once the instance's memory peak is sampled, within a second). */
async function reportOf(name: string, requestId: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const line = (await logLines(name)).find((l) => l.includes(`REPORT RequestId: ${requestId}`));
    if (line) return line;
    assert.ok(Date.now() < deadline, `no REPORT line for ${requestId}`);
    await sleep(200);
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-functions-"));
  await ensureBaseImages(["debian", "nodejs20", "nodejs22", "ruby33"]);
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("runc");
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, []), [], "the suite left resources behind");
});

test("a Node.js (CommonJS) handler: deploy, invoke with a payload, context and env, START/END/REPORT lines", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const out = await d.cliOk(["functions", "deploy", join(FIXTURES, "node-hello"), "--name", "hello", "--version", "v1"]);
  assert.match(out, /Deployed function hello version v1/);
  assert.match(out, /http:\/\/hello\.fn\.localhost:\d+/);
  const printed = JSON.parse(await d.cliOk(["functions", "invoke", "hello", "--payload", '{"name":"strata"}'])) as Record<string, unknown>;
  assert.equal(printed.hello, "strata");
  assert.equal(printed.functionName, "hello");
  assert.equal(printed.memoryLimitInMB, "256");
  assert.equal(printed.greeting, "hello from function.yaml");
  assert.equal(printed.handler, "index.handler");
  assert.equal(printed.taskRoot, "/var/task");
  assert.match(String(printed.requestId), /^[0-9a-f-]{36}$/);
  assert.ok(Number(printed.remainingMs) > 3000 && Number(printed.remainingMs) <= 5000, `remaining ${printed.remainingMs} of a 5 s timeout`);

  const list = await d.cliOk(["functions", "list"]);
  assert.match(list, /hello\s+nodejs20\.x\s+index\.handler\s+256 MB\s+5 s\s+v1/);

  const lines = await logLines("hello");
  const id = String(printed.requestId);
  assert.ok(lines.some((l) => l.endsWith(`START RequestId: ${id} Version: v1`)), lines.join("\n"));
  assert.ok(lines.some((l) => l.endsWith(`END RequestId: ${id}`)));
  const report = await reportOf("hello", id);
  assert.match(report, /\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: \d+ MB/);
});

test("an instance reaches its Runtime API on the bridge address and no other host port", { timeout: 60_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const first = await invoke("hello", { connect: [] });
  const api = String(first.body.runtimeApi);
  const [host] = api.split(":");
  assert.match(api, /^10\.\d+\.\d+\.\d+:9001$/);
  const apiPort = new URL(d.info.apiUrl).port;
  const r = await invoke("hello", { connect: [api, `${host}:${d.info.routerPort}`, `${host}:${apiPort}`, `${host}:22`] });
  assert.deepEqual(r.body.results, ["connected", "ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"], JSON.stringify(r.body));
});

test("an error comes back in Lambda's shape (Handled), and a timeout as Sandbox.Timedout (Unhandled) with the instance recycled", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const failed = await invoke("hello", { fail: "x" });
  assert.equal(failed.status, 200);
  assert.equal(failed.functionError, "Handled");
  assert.equal(failed.body.errorType, "TypeError");
  assert.equal(failed.body.errorMessage, "bad input: x");
  assert.ok(Array.isArray(failed.body.stackTrace) && (failed.body.stackTrace as string[]).some((l) => l.includes("/var/task/index.js")), JSON.stringify(failed.body));
  const cli = await d.cli(["functions", "invoke", "hello", "--payload", '{"fail":"y"}']);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /function error \(Handled\)/);

  await d.cliOk(["functions", "deploy", join(FIXTURES, "node-hello"), "--name", "slow", "--timeout", "1"]);
  const before = (await instancesOf("slow")).map((i) => i.id);
  const timedOut = await invoke("slow", { sleepMs: 3000 });
  assert.equal(timedOut.functionError, "Unhandled");
  assert.equal(timedOut.body.errorType, "Sandbox.Timedout");
  assert.equal(timedOut.body.errorMessage, `RequestId: ${timedOut.requestId} Error: Task timed out after 1.00 seconds`);
  assert.ok((await logLines("slow")).some((l) => l.endsWith(`${timedOut.requestId} Task timed out after 1.00 seconds`)));
  // The timed-out instance is stopped; the next invocation gets a fresh one and works.
  const after = await invoke("slow", { name: "again" });
  assert.equal(after.functionError, undefined, JSON.stringify(after.body));
  assert.equal(after.body.hello, "again");
  const now = (await instancesOf("slow")).map((i) => i.id);
  assert.ok(before.every((id) => !now.includes(id)), `instances before ${before} must be gone, now ${now}`);
});

test("a function URL: payload format 2.0 in (query, cookies, base64 body), Lambda's response format out", { timeout: 120_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.request("hello.fn.localhost", "/a/b?x=1&x=2&y=z", {
    method: "POST",
    headers: { cookie: "c1=v1; c2=v2", "content-type": "application/octet-stream" },
    body: Buffer.from([0, 1, 2, 255]),
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.headers["x-fn"], "yes");
  assert.deepEqual(r.headers["set-cookie"], ["a=1; Path=/", "b=2"]);
  assert.deepEqual(JSON.parse(r.text), {
    method: "POST",
    rawPath: "/a/b",
    rawQueryString: "x=1&x=2&y=z",
    query: { x: "1,2", y: "z" },
    cookies: ["c1=v1", "c2=v2"],
    isBase64Encoded: true,
    body: "000102ff",
  });
  const failed = await d.request("slow.fn.localhost", "/", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(failed.status, 201, "an event without fail answers");
  const unknown = await d.request("nope.fn.localhost", "/");
  assert.equal(unknown.status, 404);
});

test("a TypeScript ES module handler bundled by esbuild (nodejs22)", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.cliOk(["functions", "deploy", join(FIXTURES, "ts-hello"), "--name", "tshello"]);
  const r = await invoke("tshello", { n: 21 });
  assert.equal(r.functionError, undefined, JSON.stringify(r.body));
  assert.equal(r.body.doubled, 42);
  assert.equal(r.body.requestId, r.requestId);
});

test("a Ruby 3.3 handler (def handler(event:, context:))", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.cliOk(["functions", "deploy", join(FIXTURES, "ruby-hello"), "--name", "rubyhello"]);
  const r = await invoke("rubyhello", { name: "gem" });
  assert.equal(r.functionError, undefined, JSON.stringify(r.body));
  assert.equal(r.body.hello, "gem");
  assert.equal(r.body.request_id, r.requestId);
  assert.equal(r.body.function_name, "rubyhello");
  assert.match(String(r.body.ruby), /^3\.3\./);
  const failed = await invoke("rubyhello", { fail: true });
  assert.equal(failed.functionError, "Handled");
  assert.equal(failed.body.errorType, "ArgumentError");
  assert.equal(failed.body.errorMessage, "no name");
});

test("a Rust function on the lambda_runtime crate (runtime: provided) runs unchanged", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const built = await buildRustBootstrap((l) => t.diagnostic(l));
  if ("skip" in built) return t.skip(built.skip);
  const dir = join(work, "rust");
  await cp(join(RUST_FUNCTION_DIR, "function.yaml"), join(dir, "function.yaml"), { recursive: true });
  await copyFile(built.bootstrap, join(dir, "bootstrap"));
  await d.cliOk(["functions", "deploy", dir, "--name", "rusthello"]);
  const r = await invoke("rusthello", { name: "crab" });
  assert.equal(r.functionError, undefined, JSON.stringify(r.body));
  assert.deepEqual(r.body, { hello: "crab", requestId: r.requestId, function: "rusthello", memory: 128 });
  const failed = await invoke("rusthello", { fail: true });
  assert.equal(failed.functionError, "Handled");
  assert.equal(failed.body.errorMessage, "asked to fail");
});

test("5 concurrent invocations start 5 instances; idle ones stop (scale to zero) and the next invocation starts one again", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.cliOk(["functions", "deploy", join(FIXTURES, "node-hello"), "--name", "conc", "--idle-timeout", "3s", "--reserved-concurrency", "5", "--timeout", "15"]);
  // Each holds its instance longer than a cold start takes, so none is free to take a second one.
  const results = await Promise.all(Array.from({ length: 5 }, (_, i) => invoke("conc", { sleepMs: 5000, name: `n${i}` })));
  for (const r of results) assert.equal(r.functionError, undefined, JSON.stringify(r.body));
  const streams = new Set(results.map((r) => String(r.body.logStreamName)));
  assert.equal(streams.size, 5, `one instance per in-flight invocation: ${[...streams].join(", ")}`);
  // Over the reserved concurrency: Lambda's throttle.
  const six = await Promise.all(Array.from({ length: 6 }, () => d.api("POST", "/v1/functions/conc/invocations", { body: '{"sleepMs":1000}' })));
  const throttled = six.filter((r) => r.status === 429);
  assert.equal(throttled.length, 1, six.map((r) => r.status).join(","));
  assert.equal(throttled[0]!.headers["x-amzn-errortype"], "TooManyRequestsException");

  const deadline = Date.now() + 60_000;
  while ((await instancesOf("conc")).length > 0) {
    assert.ok(Date.now() < deadline, "idle instances did not stop");
    await sleep(500);
  }
  const cold = await invoke("conc", { name: "back" });
  assert.equal(cold.body.hello, "back");
  const report = await reportOf("conc", cold.requestId);
  assert.match(report, /\tInit Duration: \d+\.\d{2} ms/, "a cold start's REPORT carries its init duration");
});

test("limits: a payload over 6 MB is refused, a runtime that exits or outgrows its memory fails the invocation (Unhandled) and the next one runs", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const big = await d.api("POST", "/v1/functions/hello/invocations", { body: JSON.stringify({ pad: "x".repeat(6 * 1024 * 1024) }) });
  assert.equal(big.status, 413);
  assert.equal(big.headers["x-amzn-errortype"], "RequestTooLargeException");

  const exited = await invoke("hello", { exit: 3 });
  assert.equal(exited.functionError, "Unhandled");
  assert.equal(exited.body.errorType, "Runtime.ExitError", JSON.stringify(exited.body));
  // 256 MB of memory: 400 MB cannot be filled, the kernel's OOM killer ends the runtime.
  const oom = await invoke("hello", { allocMb: 400 });
  assert.equal(oom.functionError, "Unhandled");
  assert.equal(oom.body.errorType, "Runtime.ExitError", JSON.stringify(oom.body));
  const fine = await invoke("hello", { allocMb: 50 });
  assert.equal(fine.functionError, undefined, JSON.stringify(fine.body));
  assert.equal(fine.body.filled, 50 * 1024 * 1024);
});

test("a Node.js handler with `--sandbox microvm` runs on the guest's own kernel and reaches only its Runtime API", { timeout: 600_000 }, async (t) => {
  const vmUnavailable = unavailableReason ?? (await d.driverUnavailable("microvm"));
  if (vmUnavailable) return t.skip(vmUnavailable);
  await d.cliOk(["functions", "deploy", join(FIXTURES, "node-hello"), "--name", "vmhello", "--sandbox", "microvm"]);
  const r = await invoke("vmhello", { name: "vm" });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.hello, "vm");
  assert.equal(r.body.functionName, "vmhello");
  assert.notEqual(r.body.kernel, release(), "the handler runs on the microVM's kernel, not the host's");
  const probe = await invoke("vmhello", { connect: [] });
  // In the guest, the runtime finds the API where Lambda's does, at the init's relay (127.0.0.1:9001);
  // the daemon's own address on the bridge is what the runc function "hello" is given.
  assert.equal(probe.body.runtimeApi, "127.0.0.1:9001");
  const asked = await invoke("hello", { connect: [] });
  assert.equal(asked.functionError, undefined, `the runc function tells its Runtime API address: ${JSON.stringify(asked.body)}`);
  const api = String(asked.body.runtimeApi);
  const [host] = api.split(":");
  const reached = await invoke("vmhello", { connect: [api, `${host}:${d.info.routerPort}`, `${host}:${new URL(d.info.apiUrl).port}`] });
  assert.deepEqual(reached.body.results, ["connected", "ECONNREFUSED", "ECONNREFUSED"], JSON.stringify(reached.body));
  assert.match(await reportOf("vmhello", r.requestId), /\tInit Duration: \d+\.\d{2} ms/);
  const inst = await instancesOf("vmhello");
  assert.ok(inst.length >= 1);
  await d.cliOk(["functions", "delete", "vmhello"]);
});

test("an asynchronous invocation is accepted at once (202) and recorded when it has run", { timeout: 120_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const requestId = (await d.cliOk(["functions", "invoke", "hello", "--async", "--payload", '{"name":"later"}'])).trim();
  assert.match(requestId, /^[0-9a-f-]{36}$/);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const events = await d.cliOk(["events", "--json", "-n", "1000"]);
    if (events.includes(`asynchronous invocation ${requestId} succeeded`)) break;
    assert.ok(Date.now() < deadline, "the async invocation was not recorded");
    await sleep(300);
  }
  await d.cliOk(["functions", "delete", "slow"]);
  assert.doesNotMatch(await d.cliOk(["functions", "list"]), /^slow /m);
});
