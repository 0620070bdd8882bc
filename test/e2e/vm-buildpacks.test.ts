import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";
import { ensureBaseImages } from "../support/base-images.js";
import { registryOrSkip } from "../unit/images/shared-store.js";
import { exec, which } from "../../src/system/exec.js";

/**
 * The buildpacks of the VM-isolated runtimes (Java, Rust, C/C++) produce ordinary Strata OCI images: here
 * they run in their default sandbox (Java: runc; Rust, C and C++: the vm driver where the host has it, else
 * runc), through the real daemon and router. Each build's cold time is
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
  if (!unavailableReason) await ensureBaseImages(["java17", "java17-jdk", "rust185", "native", "debian"]);
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
  // The image store (and so the repository layer) outlives a run: v1 is cold only the first time.
  assert.match(cold.stderr, /resolving pom\.xml from Maven Central|reusing the Maven repository layer/);
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

test("the axum example builds with crates from crates.io on Rust 1.85 (Cargo.toml's rust-version) into a minimal image; a code-only change reuses the compiled crates", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  if (!(await registryOrSkip(t, "crates.io", "https://index.crates.io/config.json"))) return;
  const dir = join(work, "rust-app");
  await cp(join(EXAMPLES, "rust-app"), dir, { recursive: true });
  const cold = await timedDeploy(dir, "rust-app", "v1");
  assert.match(cold.stderr, /Cargo\.toml's rust-version 1\.85: Rust 1\.85\.\d+; binary rust-app/);
  // The image store (and so the crates layer) outlives a run: v1 downloads and compiles only the first time.
  if (/fetching the crates Cargo\.lock pins from crates\.io/.test(cold.stderr)) assert.match(cold.stderr, /Compiling axum v0\.8\.9/);
  else assert.match(cold.stderr, /reusing the compiled crates layer/);
  // The run image: the binary, libc and the loader (no shell, no toolchain).
  assert.match(cold.stderr, /MB: rust-app, libgcc_s\.so\.1, libc\.so\.6, ld-linux-x86-64\.so\.2, CA certificates\)/);
  const page = await d.request("rust-app.localhost", "/");
  assert.equal(page.status, 200, page.text);
  assert.equal(page.text, "Hello from axum on Rust (rust-app)\n");

  const source = join(dir, "src/main.rs");
  await writeFile(source, (await readFile(source, "utf8")).replace("Hello from axum", "Hello again from axum"));
  const warm = await timedDeploy(dir, "rust-app", "v2");
  assert.match(warm.stderr, /reusing the compiled crates layer .* building offline/);
  assert.doesNotMatch(warm.stderr, /Compiling (axum|tokio|hyper) /);
  assert.match(warm.stderr, /Compiling rust-app v0\.1\.0/);
  assert.equal((await d.request("rust-app.localhost", "/")).text, "Hello again from axum on Rust (rust-app)\n");
});

test("a Cargo.lock that pins an older crate is built with exactly that version", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  if (!(await registryOrSkip(t, "crates.io", "https://index.crates.io/config.json"))) return;
  // Cargo.toml allows any unicode-width 0.1 (the newest, 0.1.14, has Unicode 15.1.0 tables); Cargo.lock pins 0.1.10.
  const r = await timedDeploy(join(REPO, "test", "fixtures", "apps", "rust-pinned"), "pinned", "v1");
  assert.match(r.stderr, /Cargo\.lock version 4 \(cargo 1\.78\+\): Rust 1\.85\.\d+ \(nearest newer: no Debian suite carries Rust 1\.78\)/);
  // When the crates layer is not cached yet (the image store outlives a run), the log shows which release cargo compiled.
  if (/fetching the crates/.test(r.stderr)) assert.match(r.stderr, /Compiling unicode-width v0\.1\.10\b/);
  assert.doesNotMatch(r.stderr, /Compiling unicode-width v0\.1\.(?!10\b)/);
  // What the binary itself reports: the tables compiled into it are 0.1.10's.
  const page = await d.request("pinned.localhost", "/");
  assert.equal(page.status, 200, page.text);
  assert.equal(page.text, "unicode-width tables: Unicode 15.0.0\n");
});

test("an app with vendor/ and the .cargo/config.toml `cargo vendor` prints builds offline from it", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const cargo = await which("cargo");
  if (!cargo) return t.skip("no cargo on this host to vendor the fixture's crates with");
  if (!(await registryOrSkip(t, "crates.io", "https://index.crates.io/config.json"))) return;
  const dir = join(work, "rust-vendored");
  await cp(join(REPO, "test", "fixtures", "apps", "rust-pinned"), dir, { recursive: true });
  // `cargo vendor` prints the source replacement that makes cargo read vendor/ instead of crates.io.
  const vendored = await exec([cargo, "vendor", "--locked", "vendor"], { cwd: dir });
  await mkdir(join(dir, ".cargo"));
  await writeFile(join(dir, ".cargo", "config.toml"), vendored.stdout);
  const r = await timedDeploy(dir, "vendored", "v1");
  assert.match(r.stderr, /building the crates in vendor\/ \(offline\)|reusing the compiled crates layer/);
  assert.equal((await d.request("vendored.localhost", "/")).text, "unicode-width tables: Unicode 15.0.0\n");
});

test("the C example builds with Make against libmicrohttpd-dev and runs on Debian minbase with the library it links", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await timedDeploy(join(EXAMPLES, "c-app"), "c-app", "v1");
  assert.match(r.stderr, /make \(Makefile\) with .*; build packages: libmicrohttpd-dev; runs \.\/server/);
  assert.match(r.stderr, /libraries the run image lacks, copied from the build image: .*libmicrohttpd\.so\.12/);
  const page = await d.request("c-app.localhost", "/");
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /^Hello from C on libmicrohttpd 0\.9\.\d+ \(c-app\)\n$/);
});

test("a C++ app (runtime cpp) builds with CMake and runs on Debian minbase, which already has the libraries it links", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await timedDeploy(join(REPO, "test", "fixtures", "apps", "cpp-cmake"), "cpp-app", "v1");
  assert.match(r.stderr, /cmake \(CMakeLists\.txt\) with .*; runs \.\/build\/hello/);
  assert.match(r.stderr, /the run image has every library the binary loads/);
  const page = await d.request("cpp-app.localhost", "/");
  assert.equal(page.status, 200, page.text);
  assert.equal(page.text, "Hello from C++ 201703 (cmake)\n");
});
