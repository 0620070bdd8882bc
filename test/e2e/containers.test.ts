import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";

const PROBE = join(REPO, "test", "fixtures", "apps", "python-probe");
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

async function probeCopy(name: string, marker: string): Promise<string> {
  const dir = join(work, name);
  await cp(PROBE, dir, { recursive: true });
  const main = join(dir, "main.py");
  await writeFile(main, (await readFile(main, "utf8")).replace("CODE_MARKER", marker));
  return dir;
}

async function json<T>(host: string, path: string): Promise<T> {
  const r = await d.request(host, path);
  assert.equal(r.status, 200, `${host}${path} → ${r.status}: ${r.text}`);
  return JSON.parse(r.text) as T;
}

async function instanceIds(): Promise<string[]> {
  const events = await d.cliOk(["events", "--json", "-n", "10000"]);
  const ids = new Set<string>();
  for (const line of events.split("\n").filter(Boolean)) {
    const m = /instance (i[0-9a-f]{12})/.exec((JSON.parse(line) as { message: string }).message);
    if (m) ids.add(m[1]!);
  }
  return [...ids];
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-containers-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("runc");
});

after(async () => {
  const ids = d ? await instanceIds().catch(() => []) : [];
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, ids), [], "the suite left resources behind");
});

test("a Python WSGI app builds with the buildpack and answers through the router, with its env", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const out = await d.cliOk(["deploy", await probeCopy("probe-v1", "one"), "--app", "probe", "--version", "v1"]);
  assert.match(out, /Deployed probe version v1/);
  const seen = await json<{ env: Record<string, string>; uid: number; marker: string }>("probe.localhost", "/env");
  assert.equal(seen.marker, "one");
  assert.equal(seen.env.GREETING, "hello from app.yaml");
  assert.equal(seen.env.GAE_SERVICE, "probe");
  assert.equal(seen.env.GAE_VERSION, "v1");
  assert.equal(seen.env.GAE_ENV, "standard");
  assert.equal(seen.env.PORT, "8080");
  assert.equal(seen.env.GAE_MEMORY_MB, "384");
  assert.match(seen.env.GAE_INSTANCE ?? "", /^i[0-9a-f]{12}$/);
});

test("strata logs shows the app's stdout and stderr beside access lines", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await json("probe.localhost", "/log?msg=marker123");
  let logs = "";
  for (let i = 0; i < 50 && !/probe warns marker123/.test(logs); i++) {
    await sleep(100);
    logs = await d.cliOk(["logs", "probe", "-n", "200"]);
  }
  assert.match(logs, /\[stdout\] probe says marker123/);
  assert.match(logs, /\[stderr\] probe warns marker123/);
  assert.match(logs, /GET \/log\?msg=marker123 200/);
});

test("strata instances lists the running instance with its driver and address", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await json("probe.localhost", "/");
  const list = JSON.parse(await d.cliOk(["instances", "probe", "--json"])) as Array<{ driver: string; state: string; endpoint: string }>;
  assert.ok(list.length >= 1);
  assert.equal(list[0]!.driver, "runc");
  assert.equal(list[0]!.state, "ready");
  assert.match(list[0]!.endpoint, /^\d+\.\d+\.\d+\.\d+:8080$/);
});

test("a code-only redeploy reuses the dependency layer", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.cli(["deploy", await probeCopy("probe-v2", "two"), "--app", "probe", "--version", "v2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /cache/i);
  assert.equal((await json<{ marker: string }>("probe.localhost", "/")).marker, "two");
});

test("a build with an unresolvable requirement fails clearly and the old version keeps serving", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = await probeCopy("probe-bad", "bad");
  await writeFile(join(dir, "requirements.txt"), "surely-not-a-real-package-xyz==9.9.9\n");
  const r = await d.cli(["deploy", dir, "--app", "probe", "--version", "bad"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /surely-not-a-real-package-xyz/);
  assert.equal((await json<{ marker: string }>("probe.localhost", "/")).marker, "two");
  const versions = JSON.parse(await d.cliOk(["versions", "probe", "--json"])) as Array<{ version: string; status: string }>;
  assert.equal(versions.find((v) => v.version === "bad")?.status, "failed");
});

test("from inside, the API port and another tenant's instance are unreachable, and the host's files are not visible", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.cliOk(["deploy", await probeCopy("other", "other"), "--app", "other", "--version", "v1"]);
  const others = JSON.parse(await d.cliOk(["instances", "other", "--json"])) as Array<{ endpoint: string }>;
  const [otherHost, otherPort] = others[0]!.endpoint.split(":");
  // The other tenant answers the router...
  assert.equal((await d.request("other.localhost", "/")).status, 200);
  // ...but not the probe.
  const lateral = await json<{ result: string }>("probe.localhost", `/connect?host=${otherHost}&port=${otherPort}`);
  assert.match(lateral.result, /^refused/);
  const apiPort = new URL(d.info.apiUrl).port;
  for (const host of ["127.0.0.1", otherHost!.replace(/\.\d+$/, ".1")]) {
    const toApi = await json<{ result: string }>("probe.localhost", `/connect?host=${host}&port=${apiPort}`);
    assert.match(toApi.result, /^refused/, `reached the API at ${host}`);
  }
  const hostShadow = await readFile("/etc/shadow", "utf8");
  const inside = await json<{ read: boolean; content?: string }>("probe.localhost", "/read?path=/etc/shadow");
  assert.ok(!inside.read || inside.content !== hostShadow.slice(0, 4096), "the instance read the host's /etc/shadow");
  const uid = (await json<{ uid: number }>("probe.localhost", "/env")).uid;
  assert.ok(uid >= 0);
});

test("an app allocating past its class's memory is killed and reported", { timeout: 120_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.request("probe.localhost", "/alloc?mb=600");
  assert.ok(r.status >= 500, `allocating 600 MB in an F1 (384 MB) instance answered ${r.status}`);
  let events = "";
  for (let i = 0; i < 50 && !/oom/i.test(events); i++) {
    await sleep(200);
    events = await d.cliOk(["events", "--app", "probe", "-n", "50"]);
  }
  assert.match(events, /oom/i);
  // A new instance takes over.
  assert.equal((await d.request("probe.localhost", "/")).status, 200);
});

test("a fork bomb stops at the pids limit and the host stays responsive", { timeout: 120_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await json<{ started: number; error: string | null }>("probe.localhost", "/fork?n=2000");
  assert.ok(r.started < 2000, `started ${r.started} processes`);
  assert.ok(r.error, "fork never failed");
  const t0 = Date.now();
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(Number(new URL(d.info.apiUrl).port), "127.0.0.1", () => (s.destroy(), resolve()));
    s.on("error", reject);
  });
  assert.ok(Date.now() - t0 < 5000);
  assert.equal((await d.request("probe.localhost", "/")).status, 200);
});

test("a Node.js app with runtime: nodejs20 deploys and answers on Node 20", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const deploy = await d.cli(["deploy", join(REPO, "examples", "node-app"), "--version", "v1"]);
  assert.equal(deploy.code, 0, deploy.stderr);
  assert.match(deploy.stderr, /Node\.js 20\.\d+\.\d+ \(base image nodejs20\)/, "the build log says which Node");
  const seen = await json<{ node: string; version: string }>("node-app.localhost", "/");
  assert.match(seen.node, /^v20\./);
  assert.equal(seen.version, "v1");
  const images = JSON.parse(await d.cliOk(["images", "--json"])) as Array<{ name: string; built: boolean; describes?: string }>;
  const nodejs20 = images.find((i) => i.name === "nodejs20");
  assert.ok(nodejs20?.built && /Node\.js 20\./.test(nodejs20.describes ?? ""), JSON.stringify(nodejs20));
});
