import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";
import { ensureBaseImages } from "../support/base-images.js";
import { registryOrSkip } from "../unit/images/shared-store.js";

/**
 * The buildpacks of the VM-isolated runtimes (Java, Rust, C/C++) produce ordinary Strata OCI images: here
 * they run in the container driver (runc), through the real daemon and router. Each build's cold time is
 * printed, so the suite's cost stays visible.
 */

const EXAMPLES = join(REPO, "examples");
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-vmbp-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("runc");
  if (!unavailableReason) await ensureBaseImages(["java17", "java17-jdk"]);
}, { timeout: 30 * 60_000 });

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, []), [], "the suite left resources behind");
});

async function timedDeploy(dir: string, app: string, version: string): Promise<{ stderr: string; seconds: number }> {
  const started = Date.now();
  const r = await d.cli(["deploy", dir, "--app", app, "--version", version]);
  assert.equal(r.code, 0, r.stderr);
  const seconds = (Date.now() - started) / 1000;
  console.log(`# ${app} ${version}: deploy took ${seconds.toFixed(1)} s`);
  return { stderr: r.stderr, seconds };
}

test("the Spring Boot example builds with Maven from Maven Central, runs on Java 17's JRE, and a code-only change builds offline", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  if (!(await registryOrSkip(t, "Maven Central", "https://repo.maven.apache.org/maven2/org/springframework/boot/spring-boot-starter-parent/3.5.7/spring-boot-starter-parent-3.5.7.pom"))) return;
  const dir = join(work, "java-app");
  await cp(join(EXAMPLES, "java-app"), dir, { recursive: true });
  const cold = await timedDeploy(dir, "java-app", "v1");
  assert.match(cold.stderr, /runtime java17: Java 17\.\d+/);
  assert.match(cold.stderr, /resolving pom\.xml from Maven Central/);
  assert.match(cold.stderr, /start command \(default\): java -jar \/app\/java-app-1\.0\.0\.jar/);
  const page = await d.request("java-app.localhost", "/");
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /^Hello from Spring Boot on Java 17 \(java-app\)/);

  // A code-only change: the repository layer is reused and Maven runs with no network at all.
  const source = join(dir, "src/main/java/dev/strata/example/Application.java");
  await writeFile(source, (await readFile(source, "utf8")).replace("Hello from Spring Boot", "Hello again from Spring Boot"));
  const warm = await timedDeploy(dir, "java-app", "v2");
  assert.match(warm.stderr, /reusing the Maven repository layer .* building offline/);
  assert.doesNotMatch(warm.stderr, /Downloading from|Downloaded from/);
  const again = await d.request("java-app.localhost", "/");
  assert.match(again.text, /^Hello again from Spring Boot on Java 17/);
});

test("a Gradle build is refused before anything runs, saying what Strata found and what to do", { timeout: 120_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "gradle-app");
  await cp(join(REPO, "test", "fixtures", "apps", "gradle-wrapper"), dir, { recursive: true });
  const r = await d.cli(["deploy", dir, "--app", "gradle-app", "--version", "v1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /found build\.gradle\.kts, but Strata cannot run Gradle builds: the Gradle wrapper asks for https:\/\/services\.gradle\.org\/distributions\/gradle-8\.14-bin\.zip/);
  assert.match(r.stderr, /add a pom\.xml/);
});
