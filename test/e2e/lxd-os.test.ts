import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBaseImages } from "../support/base-images.js";
import { execFileSync } from "node:child_process";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";

let d: TestDaemon;
let lxdUnavailable: string | undefined;
let work: string;
let stopped = false;
const osInstances: string[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-lxd-os-"));
  d = await TestDaemon.start();
  lxdUnavailable = await d.driverUnavailable("lxd");
  await ensureBaseImages(["python"]);
});

after(async () => {
  if (!stopped) await d?.stop();
  await rm(work, { recursive: true, force: true });
});

test("strata exec runs a command in a runc instance: output streamed, exit code propagated", { timeout: 600_000 }, async () => {
  // The probe app without its 3 s idle timeout, so its instance is still up when exec comes.
  const dir = join(work, "py");
  await cp(join(REPO, "test", "fixtures", "apps", "python-probe"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: python311\n");
  const r = await d.cli(["deploy", dir, "--app", "execpy", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  const out = await d.cli(["exec", "execpy", "--", "/bin/sh", "-c", "echo service=$GAE_SERVICE; echo oops >&2; exit 3"]);
  assert.equal(out.code, 3, out.stderr);
  assert.equal(out.stdout, "service=execpy\n");
  assert.equal(out.stderr, "oops\n");
  const id = (JSON.parse(await d.cliOk(["instances", "execpy", "--json"])) as Array<{ id: string }>)[0]!.id;
  assert.equal((await d.cli(["exec", "execpy", "--instance", id, "--", "true"])).code, 0);
  const unknown = await d.cli(["exec", "execpy", "--instance", "no-such", "--", "true"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /has no instance no-such/);
});

test("an OS container: nginx installed from packages and configured by cloud-init, served through the router; strata exec into it", { timeout: 1_800_000 }, async (t) => {
  if (lxdUnavailable) return t.skip(lxdUnavailable);
  const r = await d.cli(["deploy", join(REPO, "examples", "os-box"), "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  // Ready means nginx answers on the port; cloud-init configured it at first boot.
  const page = await d.request("os-box.localhost", "/");
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /Hello from os-box/);
  const stamp = await d.request("os-box.localhost", "/cloud-init.txt");
  assert.match(stamp.text, /^configured by cloud-init on /);
  const active = await d.cli(["exec", "os-box", "--", "systemctl", "is-active", "nginx"]);
  assert.equal(active.code, 0, active.stderr);
  assert.equal(active.stdout.trim(), "active");
  const pid1 = await d.cli(["exec", "os-box", "--", "cat", "/proc/1/comm"]);
  assert.equal(pid1.stdout.trim(), "systemd", "the instance boots systemd");
  const list = JSON.parse(await d.cliOk(["instances", "os-box", "--json"])) as Array<{ id: string; driver: string }>;
  osInstances.push(...list.map((i) => i.id));
  assert.equal(list.length, 1, "min 1 instance by default");
  assert.equal(list[0]!.driver, "lxd");
});

test("strata exec into an app whose sandbox cannot exec says so", { timeout: 300_000 }, async () => {
  const r = await d.cli(["deploy", join(REPO, "test", "fixtures", "apps", "isolate-ts"), "--app", "execiso", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  const out = await d.cli(["exec", "execiso", "--", "ls"]);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /the isolate sandbox of execiso cannot run commands in its instances/);
});

test("a stopped daemon leaves no LXD daemon, container, netns, veth, mount or cgroup behind", { timeout: 300_000 }, async (t) => {
  if (lxdUnavailable) return t.skip(lxdUnavailable);
  const home = d.home;
  await d.stop();
  stopped = true;
  assert.deepEqual(await leftoversOf(home, osInstances), []);
  const lxd = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(home) && /lxd|lxc/.test(l));
  assert.deepEqual(lxd, [], "Strata's LXD daemon and its containers end with it");
});
