import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { StreamedResponse } from "../unit/isolate/stream-client.js";
import { STREAMING_WORKER } from "../unit/isolate/streaming-worker.js";
import { writeWorker } from "../unit/isolate/test-worker.js";
import { REPO, TestDaemon } from "./harness.js";

const FIXTURES = join(REPO, "test", "fixtures", "apps");
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-isolates-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("isolate");
  if (unavailableReason) return;
  // Two tenants of the same TypeScript worker, and a copy that scales to zero after 2 s idle.
  await d.cliOk(["deploy", join(FIXTURES, "isolate-ts"), "--app", "tenant-a", "--version", "v1"]);
  await d.cliOk(["deploy", join(FIXTURES, "isolate-ts"), "--app", "tenant-b", "--version", "v1"]);
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
});

async function logsOf(app: string, pattern: RegExp): Promise<string> {
  let logs = "";
  for (let i = 0; i < 50 && !pattern.test(logs); i++) {
    await sleep(100);
    logs = await d.cliOk(["logs", app, "-n", "500"]);
  }
  return logs;
}

test("a TypeScript Workers project deploys as it is and answers through the router", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.request("tenant-a.localhost", "/");
  assert.equal(r.status, 200);
  assert.equal(r.text, "hello from typescript");
  const env = JSON.parse((await d.request("tenant-a.localhost", "/env")).text) as { greeting: string; limit: number };
  assert.equal(env.greeting, "hello");
  const versions = JSON.parse(await d.cliOk(["versions", "tenant-a", "--json"])) as Array<{ driver: string; runtime: string }>;
  assert.equal(versions[0]!.driver, "isolate");
});

test("a Workers project deployed without --app is named by its wrangler.toml name, not its folder", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  assert.match(await d.cliOk(["deploy", join(FIXTURES, "isolate-ts"), "--version", "v1"]), /Deployed ts-worker version v1/);
  const r = await d.request("ts-worker.localhost", "/");
  assert.equal(r.status, 200);
  assert.equal(r.text, "hello from typescript");
});

test("a Workers app that asks for sandbox: runc is refused at deploy time, before it builds", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const runcMissing = await d.driverUnavailable("runc");
  if (runcMissing) return t.skip(runcMissing);
  const dir = join(work, "workers-on-runc");
  await cp(join(FIXTURES, "isolate-ts"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: workers\nsandbox: runc\n");
  const r = await d.cli(["deploy", dir, "--app", "workers-on-runc", "--version", "v1"]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /sandbox "runc" cannot run this app: a workers app builds an isolate-bundle artifact, and runc runs only oci; use sandbox: isolate/);
  assert.doesNotMatch(r.stdout, /building workers app/, "refused before the build");
});

test("a JS worker with a vendored dependency and a .wasm import answers", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.cliOk(["deploy", join(FIXTURES, "isolate-js-dep"), "--app", "jsdep", "--version", "v1"]);
  assert.equal((await d.request("jsdep.localhost", "/add?a=2&b=40")).text, "42");
  assert.match((await d.request("jsdep.localhost", "/")).text, /VENDORED/i);
});

test("a WASI program answers requests CGI-style", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.cliOk(["deploy", join(FIXTURES, "isolate-wasi"), "--app", "wasi", "--version", "v1"]);
  const r = await d.request("wasi.localhost", "/hello?name=strata");
  assert.equal(r.status, 200, r.text);
  assert.ok(r.text.length > 0);
});

test("console.log reaches strata logs", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.request("tenant-a.localhost", "/log?who=e2e-marker");
  assert.match(await logsOf("tenant-a", /log line from e2e-marker/), /log line from e2e-marker/);
});

test("one tenant's globals are invisible to another, and fetch to loopback is refused", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.request("tenant-a.localhost", "/set-global?v=secret-of-a");
  assert.equal((await d.request("tenant-a.localhost", "/get-global")).text, "secret-of-a");
  assert.equal((await d.request("tenant-b.localhost", "/get-global")).text, "undefined");
  const f = await d.request("tenant-a.localhost", `/fetch?url=${encodeURIComponent(d.info.apiUrl + "/v1/health")}`);
  assert.equal(f.status, 502);
  assert.match(f.text, /refused/);
});

for (const [what, path] of [["an infinite loop", "/loop"], ["an allocation bomb", "/bomb"]] as const) {
  test(`${what} in one tenant is stopped with a log line while another keeps answering`, async (t) => {
    if (unavailableReason) return t.skip(unavailableReason);
    const [bad, good] = await Promise.all([
      d.request("tenant-a.localhost", path),
      (async () => {
        await sleep(20);
        return d.request("tenant-b.localhost", "/");
      })(),
    ]);
    assert.ok(bad.status >= 500, `${path} answered ${bad.status}`);
    assert.equal(good.status, 200);
    assert.match(await logsOf("tenant-a", /exceeded its (CPU|memory) limit/), /exceeded its (CPU|memory) limit/);
    assert.equal((await d.request("tenant-a.localhost", "/")).status, 200, "the tenant did not recover");
  });
}

test("an idle worker scales to zero and the next request brings it back", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "idle");
  await cp(join(FIXTURES, "isolate-ts"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: workers\nautomatic_scaling:\n  idle_timeout: 1s\n");
  await d.cliOk(["deploy", dir, "--app", "idle", "--version", "v1"]);
  assert.equal((await d.request("idle.localhost", "/")).status, 200);
  let instances: unknown[] = [{}];
  for (let i = 0; i < 60 && instances.length > 0; i++) {
    await sleep(100);
    instances = JSON.parse(await d.cliOk(["instances", "idle", "--json"])) as unknown[];
  }
  assert.equal(instances.length, 0, "still running after its idle timeout");
  const r = await d.request("idle.localhost", "/");
  assert.equal(r.status, 200);
  assert.equal(r.text, "hello from typescript");
});

/** A response through the router, handed over as soon as its head arrives. */
function openThroughRouter(host: string, path: string): Promise<StreamedResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: d.info.routerPort, path, headers: { host } }, (res) => resolve(new StreamedResponse(res)));
    req.on("error", reject);
    req.end();
  });
}

test("a streamed response passes through the router chunk by chunk; a stream that fails cuts it off", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "streaming");
  await writeWorker(dir, STREAMING_WORKER);
  await writeFile(join(dir, "app.yaml"), "runtime: workers\n");
  await d.cliOk(["deploy", dir, "--app", "streaming", "--version", "v1"]);
  // The worker produces its second part only when /release comes, which is sent once the first
  // part has reached this client: a router (or engine) that buffered would never show it alone.
  const res = await openThroughRouter("streaming.localhost", "/transform");
  assert.equal(res.res.statusCode, 200);
  assert.equal(await res.until(/\|/), "first|");
  assert.equal((await d.request("streaming.localhost", "/release")).text, "ok");
  assert.equal(await res.done(), "end");
  assert.equal(res.text, "first|second-released");

  const failing = await openThroughRouter("streaming.localhost", "/fail");
  await failing.until(/partial\|/);
  await d.request("streaming.localhost", "/release");
  assert.equal(await failing.done(), "aborted");
  assert.equal(failing.text, "partial|");
  assert.match(await logsOf("streaming", /response body stream failed/), /the response body stream failed: RangeError: kaboom; the response was cut off/);
});

test("a crash-looping worker's 503 gives a request id, not its output; strata logs and events keep the detail", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  // Not promoted: a version whose instance cannot start fails the warm-up of a promoting deploy.
  await d.cliOk(["deploy", join(FIXTURES, "isolate-crash"), "--app", "crash", "--version", "v1", "--no-promote"]);
  const r = await d.request("v1-dot-crash.localhost", "/");
  assert.equal(r.status, 503, r.text);
  const id = String(r.headers["x-strata-request-id"]);
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.ok(r.text.includes(id), r.text);
  assert.doesNotMatch(r.text + JSON.stringify(r.headers), /hunter2|DATABASE_URL/);
  const detail = new RegExp(`request ${id}: [^]*hunter2`);
  assert.match(await logsOf("crash", detail), detail);
  assert.match(await d.cliOk(["events", "--app", "crash"]), /instance\.failed[^]*failed to start[^]*DATABASE_URL=postgres:\/\/admin:hunter2@db/);
});

/** A worker answering a form post as Hono's c.req.parseBody() would see it: fields, and files' name, type, size and bytes' sum. */
const FORM_WORKER = `
export default {
  async fetch(request) {
    const out = {};
    for (const [k, v] of await request.formData()) {
      out[k] = typeof v === "string" ? v : { name: v.name, type: v.type, size: v.size, sum: new Uint8Array(await v.arrayBuffer()).reduce((a, b) => a + b, 0) };
    }
    return Response.json(out);
  },
};
`;

test("a form post reaches a worker's request.formData() through the router: urlencoded, and multipart with a binary file", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "form");
  await writeWorker(dir, FORM_WORKER);
  await writeFile(join(dir, "app.yaml"), "runtime: workers\n");
  await d.cliOk(["deploy", dir, "--app", "form", "--version", "v1"]);

  const urlencoded = await d.request("form.localhost", "/", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "name=Ada+Lovelace&city=Z%C3%BCrich",
  });
  assert.equal(urlencoded.status, 200, urlencoded.text);
  assert.deepEqual(JSON.parse(urlencoded.text), { name: "Ada Lovelace", city: "Zürich" });

  const file = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const boundary = "----e2eFormBoundary";
  const multipart = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nPortrait\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="ada.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const posted = await d.request("form.localhost", "/", {
    method: "POST",
    headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    body: multipart,
  });
  assert.equal(posted.status, 200, posted.text);
  assert.deepEqual(JSON.parse(posted.text), {
    title: "Portrait",
    photo: { name: "ada.bin", type: "application/octet-stream", size: 256, sum: file.reduce((a, b) => a + b, 0) },
  });
});
