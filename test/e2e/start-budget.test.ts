import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";
import { ensureBaseImages } from "../support/base-images.js";

/**
 * A per-app start budget through the real daemon, on runc (cheap): the daemon's default is made small
 * (config.yaml scheduler.app-start-timeout-sec: 2) and the app takes 6 s to listen, so only its own
 * app.yaml readiness_check.app_start_timeout_sec lets it deploy and scale from zero.
 */
const PROBE = join(REPO, "test", "fixtures", "apps", "python-probe");
const SLOW_START = 'entrypoint: "sleep 6; exec gunicorn -b :$PORT main:app"';
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

async function slowApp(name: string, appYaml: string): Promise<string> {
  const dir = join(work, name);
  await cp(PROBE, dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), `runtime: python311\n${SLOW_START}\n${appYaml}`);
  return dir;
}

async function eventsOf(app: string): Promise<Array<{ type: string; message: string }>> {
  const out = await d.cliOk(["events", "--app", app, "--json", "-n", "10000"]);
  return out.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; message: string });
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-start-budget-"));
  d = await TestDaemon.start({ configYaml: "scheduler:\n  app-start-timeout-sec: 2\n" });
  unavailableReason = await d.driverUnavailable("runc");
  if (!unavailableReason) await ensureBaseImages(["python"]);
});

after(async () => {
  const ids = d ? (await eventsOf("").catch(() => [])).flatMap((e) => /instance (i[0-9a-f]{12})/.exec(e.message)?.[1] ?? []) : [];
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, ids), [], "the test left resources behind");
});

test("an app slower than the daemon's start budget deploys within its app.yaml readiness_check.app_start_timeout_sec, and scales from zero", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = await slowApp("slow", "readiness_check:\n  app_start_timeout_sec: 60\nautomatic_scaling:\n  min_instances: 0\n  idle_timeout: 2s\n");
  const r = await d.cli(["deploy", dir, "--app", "slow", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /starting 1 instance of slow\/v1 \(runc; up to 60 s to listen: app\.yaml readiness_check\.app_start_timeout_sec\)/);
  assert.match(r.stderr, /ready in \d+ ms/);
  assert.doesNotMatch(r.stderr, /snapshot:/, "runc takes no snapshot: no warm-up beyond the start");
  assert.equal((await d.request("slow.localhost", "/")).status, 200);

  // At zero, the next request waits in the activator (30 s) while the instance takes its 6 s again.
  const deadline = Date.now() + 60_000;
  while ((JSON.parse(await d.cliOk(["instances", "slow", "--json"])) as unknown[]).length > 0) {
    assert.ok(Date.now() < deadline, "the idle instance did not stop");
    await sleep(250);
  }
  const began = Date.now();
  const cold = await d.request("slow.localhost", "/");
  assert.equal(cold.status, 200, cold.text);
  assert.ok(Date.now() - began >= 5_000, "the request waited for the slow start");
});

test("the same app without readiness_check fails its deploy at the daemon's 2 s, saying what to set", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.cli(["deploy", await slowApp("hasty", ""), "--app", "hasty", "--version", "v1"]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /did not listen on its port within 2000 ms \(2 s, config\.yaml scheduler\.app-start-timeout-sec; an app that needs longer sets readiness_check: \{ app_start_timeout_sec: N \} in app\.yaml \(1 to 1800\)\)/,
  );
});

test("a start budget out of bounds fails the deploy before anything is built", { timeout: 60_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.cli(["deploy", await slowApp("unbounded", "readiness_check:\n  app_start_timeout_sec: 3600\n"), "--app", "unbounded", "--version", "v1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /app\.yaml:4:\d+: readiness_check\.app_start_timeout_sec: must be at most 1800, got 3600/);
});
