import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";
import { ensureBaseImages } from "../support/base-images.js";

/**
 * Elixir apps through the real daemon and router: `mix release` offline in the elixir base image, the
 * release on its run image, in a container (runc, named in app.yaml: Elixir's default sandbox is a
 * microVM where the host has that driver).
 */

const FIXTURES = join(REPO, "test", "fixtures", "apps");
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

interface VersionOut {
  version: string;
  status: string;
  runtime: string;
  runs?: string;
  driver: string;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-elixir-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("runc");
  if (!unavailableReason) await ensureBaseImages(["elixir114", "elixir114-run"]);
}, { timeout: 30 * 60_000 });

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, []), [], "the suite left resources behind");
});

/** A copy of `from` whose app.yaml also says `sandbox: runc`. */
async function inContainer(from: string, name: string, appYaml: string): Promise<string> {
  const dir = join(work, name);
  await cp(from, dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), `${appYaml}sandbox: runc\n`);
  return dir;
}

test("the Elixir example builds into a release image and serves its routes through the router", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = await inContainer(join(REPO, "examples", "elixir-app"), "elixir-app", "runtime: elixir114\n");
  const started = Date.now();
  const r = await d.cli(["deploy", dir, "--app", "elixir-app", "--version", "v1"]);
  const seconds = (Date.now() - started) / 1000;
  assert.equal(r.code, 0, r.stderr);
  // The build streams mix's own output, and says what it runs.
  assert.match(r.stderr, /runtime elixir114: Elixir 1\.14\.\d+, Erlang\/OTP 25/);
  assert.match(r.stderr, /Generated elixir_app app/);
  assert.match(r.stderr, /start command \(default\): \/app\/bin\/elixir_app start/);
  const size = /image apps\/elixir-app:v1 \S+ \(([\d.]+) MB: release ([\d.]+) MB/.exec(r.stderr);
  assert.ok(size, r.stderr);
  t.diagnostic(`cold deploy (build + start + first 200) ${seconds.toFixed(1)} s; image ${size[1]} MB, of which the release ${size[2]} MB`);

  const home = await d.request("elixir-app.localhost", "/");
  assert.equal(home.status, 200, home.text);
  assert.equal(home.text, "Hello from Elixir on Strata (service elixir-app, version v1)\n");
  const runtime = await d.request("elixir-app.localhost", "/runtime");
  assert.match(runtime.text, /^Elixir 1\.14\.\d+, Erlang\/OTP 25, erts 13\./);
  assert.equal((await d.request("elixir-app.localhost", "/healthz")).status, 200);
  const missing = await d.request("elixir-app.localhost", "/nope");
  assert.equal(missing.status, 404);
  assert.equal(missing.text, "no route for /nope\n");

  // The release's Logger output reaches `strata logs`.
  let logs = "";
  for (let i = 0; i < 50 && !/\[info\] listening on :\d+/.test(logs); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    logs = await d.cliOk(["logs", "elixir-app", "-n", "200"]);
  }
  assert.match(logs, /\[stdout\].*\[info\] listening on :\d+/);

  const [version] = JSON.parse(await d.cliOk(["versions", "elixir-app", "--json"])) as VersionOut[];
  assert.equal(version!.driver, "runc");
  assert.equal(version!.runtime, "elixir114");
  assert.match(version!.runs ?? "", /^Elixir 1\.14\.\d+$/);
});

test("an app with a vendored path dependency and a hex package left in deps/ builds offline and uses both", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  // `runtime: elixir` names no version: mix.exs's `elixir: "~> 1.14"` picks it.
  const dir = await inContainer(join(FIXTURES, "elixir-vendored"), "vendored", "runtime: elixir\n");
  const r = await d.cli(["deploy", dir, "--app", "vendored", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /mix\.exs's elixir 1\.14: Elixir 1\.14/);
  assert.match(r.stderr, /Generated greeter app/);
  assert.match(r.stderr, /Generated slug app/);
  const res = await d.request("vendored.localhost", "/Some/Path");
  assert.equal(res.status, 200, res.text);
  assert.equal(res.text, "Hello, Strata, from a vendored path dependency! some-path\n");
});

test("a hex dependency that is not vendored fails the build, naming it and how to vendor it", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.cli(["deploy", join(FIXTURES, "elixir-missing-dep"), "--app", "missing-dep", "--version", "v1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /the app needs dependency :jason, which the build could not find/);
  assert.match(r.stderr, /run `mix deps\.get` on a machine that can and deploy the app with its deps\/ folder \(deps\/jason\)/);
  assert.match(r.stderr, /\{:jason, path: "vendor\/jason"\}/);
  const [version] = JSON.parse(await d.cliOk(["versions", "missing-dep", "--json"])) as VersionOut[];
  assert.equal(version!.status, "failed");
});
