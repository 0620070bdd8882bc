import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, TestDaemon } from "./harness.js";

let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-gvisor-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("gvisor");
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
});

test("a Go net/http app builds and serves through the router under gVisor (its default sandbox)", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.cli(["deploy", join(REPO, "examples", "go-app"), "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  const res = await d.request("go-app.localhost", "/");
  assert.equal(res.status, 200, res.text);
  assert.match(res.text, /Hello from Go on Strata \(service go-app, version v1\)/);
  const versions = JSON.parse(await d.cliOk(["versions", "go-app", "--json"])) as Array<{ driver: string }>;
  assert.equal(versions[0]!.driver, "gvisor");
});

test("a Python app with `sandbox: gvisor` runs there and sees gVisor's kernel, not the host's", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "py");
  await cp(join(REPO, "test", "fixtures", "apps", "python-probe"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: python311\nsandbox: gvisor\n");
  const r = await d.cli(["deploy", dir, "--app", "pyg", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  const inside = JSON.parse((await d.request("pyg.localhost", "/read?path=/proc/version")).text) as { read: boolean; content: string };
  assert.ok(inside.read, "could not read /proc/version inside");
  const host = await readFile("/proc/version", "utf8");
  assert.notEqual(inside.content.trim(), host.trim());
  // gVisor's fixed kernel identity: 4.4.0 in Debian's runsc, 4.19.0-gvisor in the pinned one.
  assert.match(inside.content, /^Linux version (4\.4\.0|4\.19\.0-gvisor)/);
  const list = JSON.parse(await d.cliOk(["instances", "pyg", "--json"])) as Array<{ driver: string; detail?: string }>;
  assert.equal(list[0]!.driver, "gvisor");
  assert.match(list[0]!.detail ?? "", /^(kvm|systrap|ptrace), (host|netstack)$/, "strata instances names the platform");
  assert.match(await d.cliOk(["instances", "pyg"]), /gvisor \((kvm|systrap|ptrace), (host|netstack)\)/);
});
