import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "./harness.js";

/**
 * Real Workers apps, written as their frameworks' docs write them, with the framework from npm (the
 * repo's own node_modules, as `npm install` would put it next to the app), deployed unchanged with
 * `strata deploy` and answering through the router: Hono (forms, KV, the Cache API through hono/cache,
 * waitUntil, HTMLRewriter), itty-router (AutoRouter, JSON, KV), and a worker using Node's modules under
 * the nodejs_compat compatibility flag.
 */
const FIXTURES = join(REPO, "test", "fixtures", "apps");
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-workers-apps-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("isolate");
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
});

/** The fixture in a folder of its own with its npm dependency installed, as a user's checkout would be. */
async function stage(fixture: string, dependency: string): Promise<string> {
  const dir = join(work, fixture);
  await cp(join(FIXTURES, fixture), dir, { recursive: true });
  await cp(join(REPO, "node_modules", dependency), join(dir, "node_modules", dependency), { recursive: true });
  return dir;
}

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (await check()) return;
    await sleep(100);
  }
  assert.fail(`${what} did not happen within 5 s`);
}

test("a Hono app serves forms, KV, the Cache API, waitUntil and HTMLRewriter through the router; its KV outlives a redeploy", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = await stage("isolate-hono", "hono");
  await d.cliOk(["deploy", dir, "--version", "v1"]);
  const host = "hono-app.localhost";

  assert.equal((await d.request(host, "/")).text, "hello from hono");
  const hello = await d.request(host, "/hello/ada", { headers: { cookie: "seen=grace" } });
  assert.deepEqual(JSON.parse(hello.text), { hello: "ada", before: "grace" });
  assert.match(String(hello.headers["set-cookie"]), /^seen=ada; Path=\//);

  const boundary = "----honoBoundary";
  const file = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
  const multipart = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\nfirst note\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="author"\r\n\r\nAda\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="attachment"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const put1 = await d.request(host, "/notes/1", { method: "PUT", headers: { "content-type": `multipart/form-data; boundary=${boundary}` }, body: multipart });
  assert.equal(put1.status, 201, put1.text);
  const put2 = await d.request(host, "/notes/2", { method: "PUT", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "text=second+note&author=Grace" });
  assert.equal(put2.status, 201, put2.text);
  assert.deepEqual(JSON.parse((await d.request(host, "/notes/1")).text), {
    text: "first note", metadata: { author: "Ada", attachment: { name: "a.bin", size: 300 } },
  });
  assert.deepEqual(JSON.parse((await d.request(host, "/notes")).text), [
    { name: "1", metadata: { author: "Ada", attachment: { name: "a.bin", size: 300 } } },
    { name: "2", metadata: { author: "Grace", attachment: null } },
  ]);
  assert.equal((await d.request(host, "/notes/1", { method: "DELETE" })).status, 204);
  assert.equal((await d.request(host, "/notes/1")).status, 404);

  const counted = await d.request(host, "/visits", { method: "POST" });
  assert.equal(counted.status, 202);
  await eventually("the waitUntil write after the response", async () => (await d.request(host, "/visits")).text === "1");

  const first = await d.request(host, "/cached");
  const second = await d.request(host, "/cached");
  assert.equal(first.text, "generated 1");
  assert.equal(second.text, "generated 1", "the second answer comes from the cache");
  assert.equal(second.headers["cf-cache-status"], "HIT");

  const page = await d.request(host, "/page");
  assert.equal(page.text, `<html><body><a href="/notes" rel="nofollow">notes (rewritten)</a><p>by Strata</p></body></html>`);
  assert.match(String(page.headers["content-type"]), /^text\/html/);

  // A new version of the app reads what the old one stored.
  await d.cliOk(["deploy", dir, "--version", "v2"]);
  assert.deepEqual(JSON.parse((await d.request(host, "/notes/2")).text), { text: "second note", metadata: { author: "Grace", attachment: null } });
});

test("an itty-router app answers JSON routes backed by KV through the router", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = await stage("isolate-itty", "itty-router");
  await d.cliOk(["deploy", dir, "--version", "v1"]);
  const host = "itty-app.localhost";

  const root = await d.request(host, "/");
  assert.equal(root.status, 200);
  assert.match(String(root.headers["content-type"]), /^application\/json/);
  assert.deepEqual(JSON.parse(root.text), { app: "itty", ok: true });

  const json = { "content-type": "application/json" };
  assert.equal((await d.request(host, "/todos/a", { method: "POST", headers: json, body: JSON.stringify({ title: "write tests" }) })).status, 201);
  assert.equal((await d.request(host, "/todos/b", { method: "POST", headers: json, body: JSON.stringify({ title: "ship" }) })).status, 201);
  const bad = await d.request(host, "/todos/c", { method: "POST", headers: json, body: "{" });
  assert.equal(bad.status, 400);
  assert.deepEqual(JSON.parse(bad.text), { status: 400, error: "a todo needs a title" });

  assert.deepEqual(JSON.parse((await d.request(host, "/todos/a")).text), { title: "write tests", done: false });
  assert.deepEqual(JSON.parse((await d.request(host, "/todos")).text), [
    { id: "a", title: "write tests", done: false },
    { id: "b", title: "ship", done: false },
  ]);
  const missing = await d.request(host, "/todos/zz");
  assert.equal(missing.status, 404);
  assert.deepEqual(JSON.parse(missing.text), { status: 404, error: "no such todo" });
  assert.equal((await d.request(host, "/nowhere")).status, 404);
  assert.equal((await d.request(host, "/boom")).status, 500);
});

test("a nodejs_compat worker serves through the router: AsyncLocalStorage per concurrent request, createHmac, streams; without the flag the deploy fails naming it", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "isolate-node-compat");
  await cp(join(FIXTURES, "isolate-node-compat"), dir, { recursive: true });
  const deployed = await d.cli(["deploy", dir, "--version", "v1"]);
  assert.equal(deployed.code, 0, deployed.stderr);
  assert.match(deployed.stderr + deployed.stdout, /nodejs_compat modules bundled: node:async_hooks, node:buffer, node:crypto, node:events/);
  const host = "node-compat-app.localhost";

  // Two requests in flight at once, the slower one started first: each sees its own id after its awaits.
  const [slow, fast] = await Promise.all([
    d.request(host, "/id?wait=150", { headers: { "x-request-id": "slow" } }),
    d.request(host, "/id?wait=1", { headers: { "x-request-id": "fast" } }),
  ]);
  assert.deepEqual(JSON.parse(slow.text), { before: "slow", after: "slow", log: "[slow] done" });
  assert.deepEqual(JSON.parse(fast.text), { before: "fast", after: "fast", log: "[fast] done" });

  const login = await d.request(host, "/login?user=ada");
  const cookie = String(login.headers["set-cookie"]).split(";")[0]!;
  assert.match(cookie, /^user=ada\.[A-Za-z0-9_-]{43}$/);
  const me = await d.request(host, "/me", { headers: { cookie } });
  assert.equal(me.status, 200, me.text);
  assert.match(me.text, /^hello ada \(\d+ visits seen\)$/);
  assert.equal((await d.request(host, "/me", { headers: { cookie: cookie.replace("ada.", "eve.") } })).status, 401);
  assert.equal((await d.request(host, "/shout", { method: "POST", body: "quiet words here" })).text, "QUIET WORDS HERE");

  // The same app without the flag: its build fails, saying what to add; v1 keeps serving.
  const noFlag = join(work, "isolate-node-compat-no-flag");
  await cp(dir, noFlag, { recursive: true });
  await writeFile(join(noFlag, "wrangler.toml"), (await readFile(join(dir, "wrangler.toml"), "utf8")).replace(/^compatibility_flags.*\n/m, ""));
  const refused = await d.cli(["deploy", noFlag, "--version", "v2"]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr + refused.stdout, /"node:async_hooks", which needs the nodejs_compat compatibility flag: add compatibility_flags = \["nodejs_compat"\] to wrangler\.toml/);
  assert.equal((await d.request(host, "/shout", { method: "POST", body: "still up" })).text, "STILL UP");
});
