import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "./harness.js";

let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-microvm-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("microvm");
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
});

test("a Python buildpack app with `sandbox: microvm` serves through the router from a microVM, with its output in strata logs", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "py");
  await cp(join(REPO, "test", "fixtures", "apps", "python-probe"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: python311\nsandbox: microvm\n");
  const r = await d.cli(["deploy", dir, "--app", "pyvm", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);

  const inside = JSON.parse((await d.request("pyvm.localhost", "/read?path=/proc/version")).text) as { read: boolean; content: string };
  assert.ok(inside.read, "could not read /proc/version inside");
  assert.notEqual(inside.content.trim(), (await readFile("/proc/version", "utf8")).trim());
  assert.match(inside.content, /^Linux version \S+-strata-\w+ /, "the guest runs Strata's guest kernel");

  const list = JSON.parse(await d.cliOk(["instances", "pyvm", "--json"])) as Array<{ driver: string; detail?: string }>;
  assert.equal(list[0]!.driver, "microvm");
  assert.match(list[0]!.detail ?? "", /^qemu-(tcg|kvm)$/, "strata instances names the backend");
  assert.match(await d.cliOk(["instances", "pyvm"]), /microvm \(qemu-(tcg|kvm)\)/);

  await d.request("pyvm.localhost", "/log?msg=fromtheguest");
  let logs = "";
  for (let i = 0; i < 100 && !/probe warns fromtheguest/.test(logs); i++) {
    await sleep(100);
    logs = await d.cliOk(["logs", "pyvm", "-n", "200"]);
  }
  assert.match(logs, /\[stdout\] probe says fromtheguest/);
  assert.match(logs, /\[stderr\] probe warns fromtheguest/);

  const doctor = JSON.parse(await d.cliOk(["doctor", "--json"])) as { drivers: Array<{ driver: string; details?: Record<string, string> }> };
  const mv = doctor.drivers.find((x) => x.driver === "microvm");
  assert.match(mv?.details?.backend ?? "", /^qemu-(tcg|kvm) here; firecracker /);
});
