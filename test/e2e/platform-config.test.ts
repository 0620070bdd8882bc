import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BIN, REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";

/**
 * $STRATA_HOME/config.yaml through the real daemon: a wrong file stops `strata up` with what to fix;
 * `pip.index-url` reaches the Python build; `isolate.max-request-body-mb` caps workers' request bodies.
 */
const FIXTURES = join(REPO, "test", "fixtures", "apps");
// Port 9 (discard) on the host's loopback: what a build step must not reach, so pip says it cannot.
const CONFIG = "pip:\n  index-url: http://127.0.0.1:9/simple\nisolate:\n  max-request-body-mb: 1\n";
let d: TestDaemon;
let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-config-"));
  d = await TestDaemon.start({ configYaml: CONFIG });
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, []), [], "the suite left resources behind");
});

test("a config.yaml with a misspelt key and a value out of range stops strata up, naming the file, lines and what is allowed", { timeout: 60_000 }, async () => {
  const home = await mkdtemp(join("/var/tmp", "strata-badconfig-"));
  try {
    await writeFile(join(home, "config.yaml"), "pip:\n  index_url: https://pypi.org/simple\nisolate:\n  max-request-body-mb: 0\n");
    await chmod(home, 0o755);
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(process.execPath, [BIN, "up", "--api-port", "0", "--router-port", "0", "--router-host", "127.0.0.1"], { env: { ...process.env, STRATA_HOME: home }, timeout: 50_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout + stderr }),
      );
    });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /config\.yaml has 2 problems/, r.out);
    assert.match(r.out, /config\.yaml:2:\d+.*index_url.*index-url/, r.out);
    assert.match(r.out, /config\.yaml:4:\d+.*max-request-body-mb.*at least 1/, r.out);
    await assert.rejects(readFile(join(home, "daemon.json")), "the daemon never came up");
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("pip.index-url reaches the Python build: an index on the host's loopback is out of the build's reach, and the build says so", { timeout: 600_000 }, async (t) => {
  const unavailable = await d.driverUnavailable("runc");
  if (unavailable) return t.skip(unavailable);
  const dir = join(work, "needs-index");
  await cp(join(FIXTURES, "python-probe"), dir, { recursive: true });
  await writeFile(join(dir, "requirements.txt"), "six==1.16.0\n");
  const r = await d.cli(["deploy", dir, "--app", "needs-index", "--version", "v1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /pip could not install the app's dependencies/);
  assert.match(r.stderr, /serve the index at an address other than the host's loopback/);
});

test("isolate.max-request-body-mb caps a worker's request body: 413 past 1 MiB, smaller bodies reach the worker", { timeout: 300_000 }, async () => {
  await d.cliOk(["deploy", join(FIXTURES, "isolate-ts"), "--app", "capped", "--version", "v1"]);
  const big = await d.request("capped.localhost", "/echo", { method: "POST", body: Buffer.alloc(2 * 1024 * 1024, 97) });
  assert.equal(big.status, 413, big.text);
  assert.match(big.text, /larger than 1048576 bytes/);
  const small = await d.request("capped.localhost", "/echo", { method: "POST", body: JSON.stringify({ under: "the cap" }) });
  assert.equal(small.status, 200, small.text);
  assert.deepEqual((JSON.parse(small.text) as { body: unknown }).body, { under: "the cap" });
});
