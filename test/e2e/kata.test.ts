import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureBaseImages } from "../support/base-images.js";
import { exec } from "../../src/system/exec.js";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";

let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;
const instanceIds: string[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-kata-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("kata");
  if (!unavailableReason) await ensureBaseImages(["golang", "debian"]);
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (!d) return;
  assert.deepEqual(await leftoversOf(d.home, instanceIds), [], "the suite left resources behind");
  const vmms = await exec(["pgrep", "-f", `strata-vm-(${instanceIds.join("|") || "none"})`], { okCodes: [0, 1] });
  assert.equal(vmms.stdout.trim(), "", "no VMM outlives the daemon's stop");
});

test("a Dockerfile app with `sandbox: kata` serves through the router from a container inside a VM, as its USER", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "multistage");
  await cp(join(REPO, "test", "fixtures", "apps", "docker-multistage"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: custom\nsandbox: kata\n");
  const r = await d.cli(["deploy", dir, "--app", "kdock", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);

  const res = await d.request("kdock.localhost", "/");
  assert.equal(res.status, 200);
  assert.equal(res.text, "hello from a multi-stage build (uid 65534)\n", "the image's USER nobody, inside the guest");

  const list = JSON.parse(await d.cliOk(["instances", "kdock", "--json"])) as Array<{ id: string; driver: string; detail?: string }>;
  instanceIds.push(...list.map((i) => i.id));
  assert.equal(list[0]!.driver, "kata");
  assert.match(list[0]!.detail ?? "", /^qemu-(tcg|kvm) agent$/, "strata instances says how kata runs here");
  assert.match(await d.cliOk(["instances", "kdock"]), /kata \(qemu-(tcg|kvm) agent\)/);

  let logs = "";
  for (let i = 0; i < 100 && !/listening on :8080/.test(logs); i++) {
    await sleep(100);
    logs = await d.cliOk(["logs", "kdock", "-n", "200"]);
  }
  assert.match(logs, /listening on :8080/, "the container's output reaches strata logs");

  const doctor = JSON.parse(await d.cliOk(["doctor", "--json"])) as { drivers: Array<{ driver: string; available: boolean; details?: Record<string, string> }> };
  const kata = doctor.drivers.find((x) => x.driver === "kata");
  assert.equal(kata?.available, true);
  assert.match(kata?.details?.uses ?? "", /^(Strata's agent in a QEMU microvm guest|kata-runtime) \(/, "doctor says which of the two this host uses");
});

