import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";
import { ensureBaseImages } from "../support/base-images.js";
import { registryOrSkip } from "../unit/images/shared-store.js";

let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;
const instanceIds: string[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-vm-e2e-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("vm");
  if (!unavailableReason) await ensureBaseImages(["rust185", "debian"]);
}, { timeout: 30 * 60_000 });

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, instanceIds), [], "the suite left resources behind");
});

test("the Rust example with `sandbox: vm` serves through the router from a full QEMU PC, its output in strata logs, named in strata instances and doctor", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  if (!(await registryOrSkip(t, "crates.io", "https://index.crates.io/config.json"))) return;
  const dir = join(work, "rust-app");
  await cp(join(REPO, "examples", "rust-app"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: rust185\nsandbox: vm\nvm:\n  vcpus: 2\n  machine: q35\n");
  const r = await d.cli(["deploy", dir, "--app", "rust-app", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);

  const page = await d.request("rust-app.localhost", "/");
  assert.equal(page.status, 200, page.text);
  assert.equal(page.text, "Hello from axum on Rust (rust-app)\n");

  const list = JSON.parse(await d.cliOk(["instances", "rust-app", "--json"])) as Array<{ id: string; driver: string; detail?: string }>;
  instanceIds.push(...list.map((i) => i.id));
  assert.equal(list[0]!.driver, "vm");
  assert.match(list[0]!.detail ?? "", /^qemu-(tcg|kvm)$/);
  assert.match(await d.cliOk(["instances", "rust-app"]), /vm \(qemu-(tcg|kvm)\)/);

  // The app's stdout comes out of the guest's log port into strata logs.
  let logs = "";
  for (let i = 0; i < 100 && !/\[stdout\] listening on :8080/.test(logs); i++) {
    await sleep(100);
    logs = await d.cliOk(["logs", "rust-app", "-n", "200"]);
  }
  assert.match(logs, /\[stdout\] listening on :8080/);

  const doctor = JSON.parse(await d.cliOk(["doctor", "--json"])) as { drivers: Array<{ driver: string; available: boolean; details?: Record<string, string> }> };
  const vm = doctor.drivers.find((x) => x.driver === "vm");
  assert.equal(vm?.available, true);
  assert.match(vm?.details?.backend ?? "", /^qemu-(tcg here \(kvm where \/dev\/kvm runs guests\)|kvm here)$/);
});
