import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";
import { ensureBaseImages } from "../support/base-images.js";
import { registryOrSkip } from "../unit/images/shared-store.js";

/**
 * Each runtime id runs the language version it names (from the Debian suite that carries it, or the
 * nearest newer, said so), and builds fetch dependencies from the real registries: Flask from PyPI, a Go
 * module from the Go module proxy.
 */

const FIXTURES = join(REPO, "test", "fixtures", "apps");
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

interface VersionOut {
  version: string;
  runtime: string;
  runs?: string;
}

async function versionOf(app: string, version: string): Promise<VersionOut> {
  const list = JSON.parse(await d.cliOk(["versions", app, "--json"])) as VersionOut[];
  const found = list.find((v) => v.version === version);
  assert.ok(found, `${app} has a version ${version}`);
  return found;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-langs-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("runc");
  // The images these tests build on, before any test's clock starts (scripts/test.sh built them already).
  if (!unavailableReason) await ensureBaseImages(["python313", "python314", "golang124"]);
}, { timeout: 30 * 60_000 });

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, []), [], "the suite left resources behind");
});

test("a Flask app whose requirements come from PyPI deploys unchanged on runtime python314 and runs Python 3.14", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  if (!(await registryOrSkip(t, "PyPI", "https://pypi.org/simple/flask/"))) return;
  const r = await d.cli(["deploy", join(FIXTURES, "flask-pypi"), "--app", "flask", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /runtime python314: Python 3\.14\.\d+/);
  const page = await d.request("flask.localhost", "/");
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /python 3\.14\.\d+ flask 2\.1\.0/);
  const script = await d.request("flask.localhost", "/static/script.js");
  assert.equal(script.status, 200);
  assert.match(script.text, /served by the router from static_dir/);
  assert.match((await versionOf("flask", "v1")).runs ?? "", /^Python 3\.14\.\d+$/);
});

test("runtime python313 runs Python 3.13; python312, which no Debian suite carries, runs 3.13 and says so", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.cli(["deploy", join(FIXTURES, "python-version"), "--app", "pyver", "--version", "v313"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match((await d.request("pyver.localhost", "/")).text, /^3\.13\.\d+$/);
  assert.match((await versionOf("pyver", "v313")).runs ?? "", /^Python 3\.13\.\d+$/);

  const dir = join(work, "python312");
  await cp(join(FIXTURES, "python-version"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: python312\n");
  const older = await d.cli(["deploy", dir, "--app", "pyver", "--version", "v312"]);
  assert.equal(older.code, 0, older.stderr);
  assert.match(older.stderr, /runtime python312: Python 3\.13\.\d+ \(nearest newer: no Debian suite carries Python 3\.12\)/);
  assert.match((await d.request("v312-dot-pyver.localhost", "/")).text, /^3\.13\.\d+$/);
  const v312 = await versionOf("pyver", "v312");
  assert.equal(v312.runtime, "python312");
  assert.match(v312.runs ?? "", /nearest newer/);
  const table = await d.cliOk(["versions", "pyver"]);
  assert.match(table, /nearest newer/, "strata versions says so");
  const images = await d.cliOk(["images"]);
  assert.match(images, /python313.*python312 \(nearest newer\)/, "strata images says which runtimes an image serves");
});

test("a Go app on runtime go124 gets its module from the Go module proxy (no vendor/) and runs Go 1.24", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  if (!(await registryOrSkip(t, "the Go module proxy", "https://proxy.golang.org/github.com/google/uuid/@v/list"))) return;
  // The default sandbox of Go apps is gVisor; this test is about the build, so it runs where runc does.
  const dir = join(work, "go-proxy-module");
  await cp(join(FIXTURES, "go-proxy-module"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: go124\nsandbox: runc\n");
  const r = await d.cli(["deploy", dir, "--app", "gomod", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /modules from https:\/\/proxy\.golang\.org/);
  const page = await d.request("gomod.localhost", "/");
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /^go1\.24\.\d+ [0-9a-f]{8}-[0-9a-f]{4}-/);
  assert.match((await versionOf("gomod", "v1")).runs ?? "", /^Go 1\.24\.\d+$/);
});
