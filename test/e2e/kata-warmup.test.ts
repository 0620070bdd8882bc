import { test, before, after, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureBaseImages } from "../support/base-images.js";
import { exec } from "../../src/system/exec.js";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";
import { registryOrSkip } from "../unit/images/shared-store.js";

/**
 * The deploy-time warm-up on kata with snapshots on (config.yaml microvm.snapshots): the deploy itself ends
 * with the version's snapshot taken, so the first scale from zero restores instead of booting. Once with a
 * small Go image, once with the Spring Boot example, whose JVM takes a minute or more to start under TCG.
 */
/** The deploy's line once its warm-up snapshot is on disk: seconds to the first answer, seconds to snapshot, MiB. */
const SNAPSHOT_TAKEN = /snapshot: answered its first request ([\d.]+) s after it started; snapshot taken in ([\d.]+) s \((\d+) MiB\)/;
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;
let agentOnly: string | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-kata-warmup-"));
  d = await TestDaemon.start({ configYaml: "microvm:\n  snapshots: true\n" });
  unavailableReason = await d.driverUnavailable("kata");
  if (unavailableReason) return;
  const doctor = JSON.parse(await d.cliOk(["doctor", "--json"])) as { drivers: Array<{ driver: string; details?: Record<string, string> }> };
  const uses = doctor.drivers.find((x) => x.driver === "kata")?.details?.uses ?? "";
  if (!/^Strata's agent/.test(uses)) agentOnly = "this host runs kata-runtime, which has no snapshots here";
  else await ensureBaseImages(["golang", "debian", "java17", "java17-jdk"]);
});

after(async () => {
  const ids = d ? (await d.cliOk(["events", "--json", "-n", "10000"]).catch(() => "")).split("\n").flatMap((l) => /instance (i[0-9a-f]{12})/.exec(l)?.[1] ?? []) : [];
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (!d) return;
  assert.deepEqual(await leftoversOf(d.home, ids), [], "the test left resources behind");
  const vmms = await exec(["pgrep", "-f", `strata-vm-(${ids.join("|") || "none"})`], { okCodes: [0, 1] });
  assert.equal(vmms.stdout.trim(), "", "no VMM outlives the daemon's stop");
});

test("a kata deploy with snapshots on ends with the snapshot taken, and the scale from zero restores it", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  if (agentOnly) return t.skip(agentOnly);
  const dir = join(work, "app");
  await cp(join(REPO, "test", "fixtures", "apps", "docker-multistage"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: custom\nsandbox: kata\nreadiness_check:\n  app_start_timeout_sec: 600\nautomatic_scaling:\n  min_instances: 0\n  idle_timeout: 2s\n");
  const r = await d.cli(["deploy", dir, "--app", "kwarm", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /starting 1 instance of kwarm\/v1 \(kata; up to 600 s to listen: app\.yaml readiness_check\.app_start_timeout_sec\)/);
  assert.match(r.stderr, /snapshot: sending i[0-9a-f]{12} its first request/);
  const taken = SNAPSHOT_TAKEN.exec(r.stderr);
  assert.ok(taken, `the deploy says the snapshot was taken:\n${r.stderr}`);
  t.diagnostic(`first answer ${taken[1]} s after start, snapshot ${taken[2]} s, ${taken[3]} MiB`);

  const res = await scaleFromZero(t, "kwarm");
  assert.equal(res.status, 200, res.text);
});

test("the Spring Boot example in kata: the deploy snapshots the started JVM, and a scale from zero restores it to serve", { timeout: 1_200_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  if (agentOnly) return t.skip(agentOnly);
  if (!(await registryOrSkip(t, "Maven Central", "https://repo.maven.apache.org/maven2/org/springframework/boot/spring-boot-starter-parent/3.5.7/spring-boot-starter-parent-3.5.7.pom"))) return;
  const dir = join(work, "java-app");
  await cp(join(REPO, "examples", "java-app"), dir, { recursive: true });
  // F2's 1.2 CPUs: with F1's 0.6 a JVM's start under TCG would take minutes.
  await writeFile(join(dir, "app.yaml"), "runtime: java17\nsandbox: kata\ninstance_class: F2\nreadiness_check:\n  app_start_timeout_sec: 900\nautomatic_scaling:\n  min_instances: 0\n  idle_timeout: 2s\n");
  const r = await d.cli(["deploy", dir, "--app", "kjava", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /start command \(default\): java -jar \/app\/java-app-1\.0\.0\.jar/);
  assert.match(r.stderr, /starting 1 instance of kjava\/v1 \(kata;/);
  const taken = SNAPSHOT_TAKEN.exec(r.stderr);
  assert.ok(taken, `the deploy says the snapshot was taken:\n${r.stderr}`);
  t.diagnostic(`JVM answered ${taken[1]} s after the VM started, snapshot ${taken[2]} s, ${taken[3]} MiB`);

  const res = await scaleFromZero(t, "kjava");
  assert.equal(res.status, 200, res.text);
  assert.match(res.text, /^Hello from Spring Boot on Java 17 \(kjava\)/);
});

/** Waits for the app's idle instance to stop, sends one request, and checks it was served by a restored snapshot. */
async function scaleFromZero(t: TestContext, app: string): Promise<{ status: number; text: string }> {
  const deadline = Date.now() + 120_000;
  while ((JSON.parse(await d.cliOk(["instances", app, "--json"])) as unknown[]).length > 0) {
    assert.ok(Date.now() < deadline, "the idle instance did not stop");
    await sleep(250);
  }
  const began = Date.now();
  const res = await d.request(`${app}.localhost`, "/");
  t.diagnostic(`scale from zero → ${res.status} in ${Date.now() - began} ms`);
  const list = JSON.parse(await d.cliOk(["instances", app, "--json"])) as Array<{ detail?: string }>;
  assert.match(list[0]?.detail ?? "", /^qemu-(tcg|kvm) agent, restored$/, "the scale from zero restored the deploy's snapshot");
  return res;
}
