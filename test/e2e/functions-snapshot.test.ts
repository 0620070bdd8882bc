import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";
import { ensureBaseImages } from "../support/base-images.js";

/**
 * Functions from snapshots, as Lambda SnapStart runs them: with `microvm.snapshots: true`, a function's
 * first microVM is snapshotted once its runtime waits in GET /runtime/invocation/next (its init done,
 * before any invocation), later cold starts (a scale from zero) restore that snapshot, and the guest's
 * Runtime API relay asks the daemon again from the restored guest's own address. Also: after kill -9 of
 * the daemon, function instances (microvm and runc) are re-adopted and serve.
 */
const FIXTURES = join(REPO, "test", "fixtures", "functions");
let d: TestDaemon;
let unavailableReason: string | undefined;

interface Invoked {
  status: number;
  requestId: string;
  body: Record<string, unknown>;
}

async function invoke(name: string, payload: unknown): Promise<Invoked> {
  const r = await d.api("POST", `/v1/functions/${name}/invocations`, { body: JSON.stringify(payload), headers: { "content-type": "application/json" } });
  assert.equal(r.status, 200, r.text);
  if (r.headers["x-amz-function-error"] !== undefined) {
    const logs = await d.cliOk(["functions", "logs", name, "-n", "60"]);
    const evs = (await d.cliOk(["events", "-n", "30"])).trim();
    assert.fail(`${name}: ${r.text}\nlogs:\n${logs}\nevents:\n${evs}`);
  }
  return { status: r.status, requestId: String(r.headers["x-amzn-requestid"]), body: JSON.parse(r.text) as Record<string, unknown> };
}

async function instancesOf(name: string): Promise<Array<{ id: string; state: string; detail?: string }>> {
  const r = await d.api("GET", `/v1/apps/${name}/instances`);
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text) as Array<{ id: string; state: string; detail?: string }>;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `${what} within ${ms} ms`);
    await sleep(250);
  }
}

/** The REPORT line of one invocation (written once the instance's memory peak is sampled). */
function reportOf(name: string, requestId: string): Promise<string> {
  return until(`a REPORT line for ${requestId}`, async () => (await d.cliOk(["functions", "logs", name, "-n", "1000"])).split("\n").find((l) => l.includes(`REPORT RequestId: ${requestId}`)), 15_000);
}

async function events(): Promise<Array<{ type: string; app?: string; message: string }>> {
  const lines = (await d.cliOk(["events", "--json", "-n", "1000"])).split("\n").filter((l) => l.trim());
  return lines.map((l) => JSON.parse(l) as { type: string; app?: string; message: string });
}

const scaledToZero = (name: string) => until(`${name} scaled to zero`, async () => ((await instancesOf(name)).length === 0 ? true : undefined), 60_000);

before(async () => {
  await ensureBaseImages(["debian", "nodejs20"]);
  d = await TestDaemon.start({ configYaml: "microvm:\n  snapshots: true\n" });
  unavailableReason = (await d.driverUnavailable("runc")) ?? (await d.driverUnavailable("microvm"));
});

after(async () => {
  await d?.stop();
  if (d) assert.deepEqual(await leftoversOf(d.home, []), [], "the suite left resources behind");
});

test("a function's microVM is snapshotted after init; cold starts from zero restore it, with clock, random pool and hostname its own", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.cliOk(["functions", "deploy", join(FIXTURES, "node-hello"), "--name", "snap", "--sandbox", "microvm", "--idle-timeout", "1s", "--timeout", "60"]);
  const booted = await invoke("snap", { restoreProbe: true });
  assert.match(await reportOf("snap", booted.requestId), /\tInit Duration: \d+\.\d{2} ms/, "the first cold start boots and runs the init");
  const snapDir = join(d.home, "cache", "microvm-snapshots");
  const states = async () => (await readdir(snapDir, { recursive: true })).filter((f) => f.endsWith(".vmstate"));
  assert.equal((await states()).length, 1, "the first instance was snapshotted before its first invocation ran");

  const restores: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 2; i++) {
    await scaledToZero("snap");
    await sleep(3000); // the guest's clock, if not set again, would be this far behind
    const sent = Date.now();
    const cold = await invoke("snap", { restoreProbe: true });
    const answered = Date.now();
    const now = Number(cold.body.now);
    assert.ok(now >= sent - 500 && now <= answered + 500, `the restored guest's clock is the host's (${now - sent} ms after the invocation was sent, which took ${answered - sent} ms)`);
    const report = await reportOf("snap", cold.requestId);
    assert.match(report, /\tRestore Duration: \d+\.\d{2} ms/, report);
    assert.doesNotMatch(report, /Init Duration/, report);
    const [inst] = await instancesOf("snap");
    assert.match(inst?.detail ?? "", /restored/, JSON.stringify(inst));
    assert.equal(cold.body.hostname, inst?.id, "the restored guest is named after its own instance");
    // The restored instance serves again, warm, with no cold-start field.
    const warm = await invoke("snap", { name: "again" });
    assert.equal(warm.body.hello, "again");
    assert.doesNotMatch(await reportOf("snap", warm.requestId), /Restore Duration|Init Duration/);
    restores.push(cold.body);
  }
  assert.notEqual(restores[0]!.urandom, restores[1]!.urandom, "two restores of one snapshot read different kernel random bytes");
  assert.notEqual(restores[0]!.urandom, booted.body.urandom);
  assert.ok((await events()).some((e) => e.app === "snap" && e.type === "instance.ready" && /restored from a snapshot/.test(e.message)));
  assert.equal((await states()).length, 1, "restores take no snapshot of their own");
  await d.cliOk(["functions", "delete", "snap"]);
});

test("after kill -9 of the daemon, function instances (microvm and runc) are re-adopted and serve the next invocation", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  await d.cliOk(["functions", "deploy", join(FIXTURES, "node-hello"), "--name", "keepvm", "--sandbox", "microvm", "--idle-timeout", "10m"]);
  await d.cliOk(["functions", "deploy", join(FIXTURES, "node-hello"), "--name", "keeprunc", "--idle-timeout", "10m"]);
  await invoke("keepvm", { name: "before" });
  await invoke("keeprunc", { name: "before" });
  const vmIds = (await instancesOf("keepvm")).map((i) => i.id);
  const runcIds = (await instancesOf("keeprunc")).map((i) => i.id);
  assert.equal(vmIds.length, 1);
  assert.equal(runcIds.length, 1);
  await d.kill9();
  await d.up();
  assert.deepEqual((await instancesOf("keepvm")).map((i) => i.id), vmIds, "the microVM was re-adopted");
  assert.deepEqual((await instancesOf("keeprunc")).map((i) => i.id), runcIds, "the runc instance was re-adopted");
  assert.equal((await invoke("keepvm", { name: "after" })).body.hello, "after");
  assert.equal((await invoke("keeprunc", { name: "after" })).body.hello, "after");
  assert.deepEqual((await instancesOf("keepvm")).map((i) => i.id), vmIds, "the re-adopted microVM served it");
  assert.deepEqual((await instancesOf("keeprunc")).map((i) => i.id), runcIds, "the re-adopted runc instance served it");
  const recovered = (await events()).filter((e) => e.type === "instance.recovered").map((e) => e.app);
  assert.ok(recovered.includes("keepvm") && recovered.includes("keeprunc"), JSON.stringify(recovered));
  await d.cliOk(["functions", "delete", "keepvm"]);
  await d.cliOk(["functions", "delete", "keeprunc"]);
});
