import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";

const PROBE = join(REPO, "test", "fixtures", "apps", "python-probe");
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

/** A copy of the probe app with its own app.yaml. */
async function probeApp(name: string, appYaml: string, marker = name): Promise<string> {
  const dir = join(work, name);
  await cp(PROBE, dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), appYaml);
  const main = join(dir, "main.py");
  await writeFile(main, (await readFile(main, "utf8")).replace("CODE_MARKER", marker));
  return dir;
}

interface InstanceOut {
  id: string;
  version: string;
  state: string;
}
async function instances(app: string): Promise<InstanceOut[]> {
  return JSON.parse(await d.cliOk(["instances", app, "--json"])) as InstanceOut[];
}

async function eventsOf(app: string): Promise<Array<{ type: string; message: string; version?: string }>> {
  const out = await d.cliOk(["events", "--app", app, "--json", "-n", "10000"]);
  return out.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; message: string; version?: string });
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-scaling-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("runc");
});

after(async () => {
  const ids = d ? (await eventsOf("").catch(() => [])).flatMap((e) => /instance (i[0-9a-f]{12})/.exec(e.message)?.[1] ?? []) : [];
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, ids), [], "the suite left resources behind");
});

test("an idle version with min_instances 0 is at zero after its idle timeout, and the next request still gets 200", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.cliOk(["deploy", await probeApp("idle", "runtime: python311\nautomatic_scaling:\n  min_instances: 0\n  idle_timeout: 2s\n"), "--app", "idle", "--version", "v1"]);
  assert.equal((await d.request("idle.localhost", "/")).status, 200);
  await until("scale to zero", async () => ((await instances("idle")).length === 0 ? true : undefined));
  const r = await d.request("idle.localhost", "/");
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /"marker": "idle"/);
});

test("50 concurrent requests on a cold version start the instances the concurrency target implies", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  // Target per instance: max_concurrent_requests 25 × target_throughput_utilization 0.6 = 15 → ⌈50/15⌉ = 4.
  const yaml = "runtime: python311\nautomatic_scaling:\n  min_instances: 0\n  max_instances: 10\n  max_concurrent_requests: 25\n  idle_timeout: 30s\n";
  await d.cliOk(["deploy", await probeApp("burst", yaml), "--app", "burst", "--version", "v1", "--no-promote"]);
  await d.cliOk(["traffic", "migrate", "burst", "v1"]);
  // The deploy warmed one instance; let it idle out so the version is cold.
  await d.cliOk(["deploy", await probeApp("burst2", yaml.replace("30s", "1s")), "--app", "burst", "--version", "v2", "--no-promote"]);
  await until("v2 cold", async () => ((await instances("burst")).some((i) => i.version === "v2") ? undefined : true));
  const before = (await eventsOf("burst")).filter((e) => e.type === "instance.started" && e.version === "v2").length;
  const results = await Promise.all(Array.from({ length: 50 }, () => d.request("v2-dot-burst.localhost", "/")));
  assert.deepEqual([...new Set(results.map((r) => r.status))], [200]);
  const started = (await eventsOf("burst")).filter((e) => e.type === "instance.started" && e.version === "v2").length - before;
  assert.equal(started, 4, `started ${started} instances for 50 concurrent requests at 15 per instance`);
  // strata instances says why: the autoscaler's last decision per version, its mode and its reason.
  assert.match(await d.cliOk(["instances", "burst"]), /^v2: \d+ running, \d+ wanted \((stable|panic|demand); .*wants \d+/m);
});

test("a rollout under continuous load gives zero non-2xx responses", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const yaml = "runtime: python311\nautomatic_scaling:\n  min_instances: 1\n  max_instances: 4\n";
  await d.cliOk(["deploy", await probeApp("roll1", yaml, "first"), "--app", "roll", "--version", "v1"]);
  // ~200 requests/s for 20 s, bounded: 4,000 requests at most, loopback only.
  const statuses = new Map<number, number>();
  let stop = false;
  const load = (async () => {
    const started = Date.now();
    let sent = 0;
    const inflight = new Set<Promise<void>>();
    while (!stop && sent < 4000 && Date.now() - started < 30_000) {
      const p = d.request("roll.localhost", "/").then(
        (r) => void statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1),
        () => void statuses.set(0, (statuses.get(0) ?? 0) + 1),
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      sent++;
      await sleep(5);
    }
    await Promise.all(inflight);
  })();
  await sleep(2000);
  await d.cliOk(["deploy", await probeApp("roll2", yaml, "second"), "--app", "roll", "--version", "v2"]);
  await sleep(3000);
  stop = true;
  await load;
  const total = [...statuses.values()].reduce((a, b) => a + b, 0);
  assert.ok(total > 500, `only ${total} requests were sent`);
  assert.deepEqual([...statuses.keys()], [200], `statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
  assert.match((await d.request("roll.localhost", "/")).text, /"marker": "second"/);
});

test("an instance whose process is killed is replaced", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const [victim] = (await instances("roll")).filter((i) => i.version === "v2");
  assert.ok(victim, "no v2 instance of roll");
  // Kill every process in the instance's pids cgroup, as a crash would.
  const procs = await findCgroupProcs(victim.id);
  assert.ok(procs.length > 0, `no processes found for ${victim.id}`);
  for (const pid of procs) process.kill(pid, "SIGKILL");
  for (let i = 0; i < 1000 && procs.some((pid) => existsSync(`/proc/${pid}`)); i++) await sleep(5);
  // At once, before any health tick may have seen the crash: the router finds the instance refusing,
  // takes it out of service and sends the request to a new one, so the client sees no 502.
  const asked = performance.now();
  assert.equal((await d.request("roll.localhost", "/")).status, 200);
  t.diagnostic(`first request after the crash: 200 in ${Math.round(performance.now() - asked)} ms`);
  const replacement = await until("a replacement instance", async () => {
    // The victim out of service (the crash was seen), and a ready v2 instance serving in its place.
    const now = await instances("roll");
    if (now.some((i) => i.id === victim.id)) return undefined;
    return now.find((i) => i.version === "v2" && i.state === "ready");
  });
  assert.ok(replacement);
  assert.equal((await d.request("roll.localhost", "/")).status, 200);
  const failed = (await eventsOf("roll")).filter((e) => e.type === "instance.failed" && e.message.includes(victim.id));
  assert.ok(failed.length > 0);
  t.diagnostic(`crash seen: ${failed.map((e) => e.message).join(" | ")}`);
});

test("after kill -9 of the daemon, strata up re-adopts running instances and every app keeps serving", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const beforeIds = (await instances("roll")).map((i) => i.id).sort();
  await d.kill9();
  await d.up();
  assert.equal((await d.request("roll.localhost", "/")).status, 200);
  assert.equal((await d.request("idle.localhost", "/")).status, 200);
  const after = (await instances("roll")).map((i) => i.id);
  for (const id of beforeIds) assert.ok(after.includes(id), `instance ${id} was not re-adopted`);
  assert.ok((await eventsOf("roll")).some((e) => e.type === "instance.recovered"));
});

test("a version that never becomes ready fails the deploy with its last lines, and the old version keeps serving", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = await probeApp("crash", "runtime: python311\nentrypoint: python3 crash.py\n");
  await writeFile(join(dir, "crash.py"), "print('boom: missing DATABASE_URL', flush=True)\nraise SystemExit(3)\n");
  const r = await d.cli(["deploy", dir, "--app", "roll", "--version", "v3"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /boom: missing DATABASE_URL/);
  assert.match((await d.request("roll.localhost", "/")).text, /"marker": "second"/);
});

/** Host pids whose command line is exactly `argv`. */
async function pidsRunning(argv: string[]): Promise<number[]> {
  const want = argv.join("\0") + "\0";
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmdline === want) found.push(Number(name));
  }
  return found;
}

test("a deploy cut short by kill -9 of the daemon: its version is failed with what to do, its build step killed, its files gone", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  // A Node.js app whose build script runs until the daemon is killed (a unique argument finds it).
  const dir = join(work, "slow-build");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "slow-build", scripts: { build: "sleep 4242", start: "node server.js" } }));
  await writeFile(join(dir, "server.js"), "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT);\n");
  const deploy = d.cli(["deploy", dir, "--app", "roll", "--version", "v4"]);
  const [step] = await until("the build step to run", async () => {
    const pids = await pidsRunning(["sleep", "4242"]);
    return pids.length > 0 ? pids : undefined;
  }, 120_000);
  const stepCgroup = (await readFile(`/proc/${step}/cgroup`, "utf8")).split("\n").find((l) => /:pids:/.test(l))!.split(":")[2]!;
  await d.kill9();
  assert.notEqual((await deploy).code, 0, "the deploy's CLI sees the daemon go");
  await d.up();
  const versions = JSON.parse(await d.cliOk(["versions", "roll", "--json"])) as Array<{ version: string; status: string; error?: string }>;
  const v4 = versions.find((v) => v.version === "v4");
  assert.equal(v4?.status, "failed");
  assert.match(v4?.error ?? "", /stopped while this version was building; deploy it again/);
  assert.deepEqual(await pidsRunning(["sleep", "4242"]), [], "the build step's command was killed");
  assert.equal(existsSync(join("/sys/fs/cgroup/pids", stepCgroup)), false, `cgroup ${stepCgroup} removed`);
  assert.equal(existsSync(join(d.home, "uploads")), false, "no upload left");
  assert.deepEqual((await readdir(join(d.home, "builds")).catch(() => [])).filter((n) => n !== "go-cache"), [], "no deploy work dir left");
  assert.match((await d.request("roll.localhost", "/")).text, /"marker": "second"/);
  // Deploying the same version again works (a failed version may be replaced).
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "slow-build", scripts: { start: "node server.js" } }));
  await d.cliOk(["deploy", dir, "--app", "roll", "--version", "v4", "--no-promote"]);
});

/** The processes of an instance, from its pids cgroup (drivers name cgroups after the instance id). */
async function findCgroupProcs(id: string): Promise<number[]> {
  const found: number[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 4) return;
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (e.name.includes(id)) {
        const text = await readFile(join(p, "cgroup.procs"), "utf8");
        found.push(...text.split("\n").filter(Boolean).map(Number));
      } else await walk(p, depth + 1);
    }
  };
  await walk("/sys/fs/cgroup/pids", 0);
  return found;
}
