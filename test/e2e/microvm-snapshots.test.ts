import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";

/**
 * Scale to zero and back from a snapshot, through the real daemon and router: config.yaml turns microVM
 * snapshots on, a Python buildpack app runs in a microVM, the version's first instance is snapshotted,
 * the version idles to zero, and the next requests are served by instances restored from that snapshot,
 * each with its own name, address and kernel random state, their output in `strata logs`.
 */

let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

interface InstanceOut {
  id: string;
  driver: string;
  detail?: string;
  endpoint: string;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-microvm-snap-"));
  d = await TestDaemon.start({ configYaml: "microvm:\n  snapshots: true\n" });
  unavailableReason = await d.driverUnavailable("microvm");
});

after(async () => {
  const ids = d ? (await d.cliOk(["events", "--json", "-n", "10000"]).catch(() => "")).split("\n").flatMap((l) => /instance (i[0-9a-f]{12})/.exec(l)?.[1] ?? []) : [];
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, ids), [], "the test left resources behind");
});

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

async function instances(app: string): Promise<InstanceOut[]> {
  return JSON.parse(await d.cliOk(["instances", app, "--json"])) as InstanceOut[];
}

/** A file inside the instance that serves the request, read by the probe app. */
async function readInside(app: string, path: string): Promise<string> {
  const r = await d.request(`${app}.localhost`, `/read?path=${encodeURIComponent(path)}`);
  assert.equal(r.status, 200, r.text);
  const body = JSON.parse(r.text) as { read: boolean; content?: string; error?: string };
  assert.ok(body.read, `could not read ${path} inside: ${body.error}`);
  return body.content!.trim();
}

/** The .vmstate files of the daemon's microVM snapshots, with their sizes and their run disks'. */
async function snapshotFiles(): Promise<Array<{ file: string; bytes: number }>> {
  const dir = join(d.home, "cache", "microvm-snapshots");
  const files = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return Promise.all(files.filter((f) => /\.(vmstate|run\.img)$/.test(f)).map(async (f) => ({ file: f, bytes: (await stat(join(dir, f))).size })));
}

/** The one instance of `app` once the idle version scaled to zero and a request brought it back. */
async function backFromZero(app: string): Promise<{ instance: InstanceOut; uuid: string }> {
  await until("the version to scale to zero", async () => ((await instances(app)).length === 0 ? true : undefined), 120_000);
  const uuid = await readInside(app, "/proc/sys/kernel/random/uuid"); // this request starts an instance
  const list = await instances(app);
  assert.equal(list.length, 1, JSON.stringify(list));
  return { instance: list[0]!, uuid };
}

test("an idle microVM version scales to zero and comes back restored from its snapshot, with fresh identity and random state, its output in strata logs", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "snap");
  await cp(join(REPO, "test", "fixtures", "apps", "python-probe"), dir, { recursive: true });
  // The idle timeout leaves the first instance the time to be snapshotted (a pause of a few seconds under TCG).
  await writeFile(join(dir, "app.yaml"), "runtime: python311\nsandbox: microvm\nautomatic_scaling:\n  min_instances: 0\n  max_instances: 1\n  idle_timeout: 8s\n");
  const r = await d.cli(["deploy", dir, "--app", "snap", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);

  const [first] = await instances("snap");
  assert.equal(first!.driver, "microvm");
  assert.doesNotMatch(first!.detail ?? "", /restored/, "the version's first instance boots");
  const firstUuid = await readInside("snap", "/proc/sys/kernel/random/uuid");
  const files = await until("the version's snapshot", async () => {
    const f = await snapshotFiles();
    return f.some((x) => x.file.endsWith(".vmstate")) ? f : undefined;
  }, 120_000);
  t.diagnostic(`snapshot on disk: ${files.map((f) => `${f.file.split("/").pop()} ${(f.bytes / 1048576).toFixed(1)} MiB`).join(", ")}`);

  const a = await backFromZero("snap");
  assert.match(a.instance.detail ?? "", /^qemu-(tcg|kvm), restored$/, "strata instances says the instance was restored");
  assert.notEqual(a.instance.id, first!.id);
  assert.notEqual(a.instance.endpoint, first!.endpoint, "the restored guest has an address of its own");
  const host = a.instance.endpoint.split(":")[0]!;
  assert.match(await readInside("snap", "/proc/net/fib_trie"), new RegExp(`${host.replaceAll(".", "\\.")}\\n\\s+/32 host LOCAL`), "the guest's NIC holds its new address");
  assert.equal(await readInside("snap", "/proc/sys/kernel/hostname"), a.instance.id, "the guest is named after its own instance");

  // The restored guest's output reaches strata logs, under its own instance.
  assert.equal((await d.request("snap.localhost", "/log?msg=afterrestore")).status, 200);
  const logs = await until("the restored guest's output in strata logs", async () => {
    const out = await d.cliOk(["logs", "snap", "-n", "200"]);
    return /probe warns afterrestore/.test(out) ? out : undefined;
  }, 20_000);
  assert.match(logs, new RegExp(`${a.instance.id} \\[stdout\\] probe says afterrestore`));
  assert.match(logs, new RegExp(`${a.instance.id} \\[stderr\\] probe warns afterrestore`));

  // A second restore from the same snapshot draws other random bytes than the first.
  const b = await backFromZero("snap");
  assert.match(b.instance.detail ?? "", /restored/);
  assert.notEqual(b.instance.id, a.instance.id);
  for (const u of [firstUuid, a.uuid, b.uuid]) assert.match(u, /^[0-9a-f-]{36}$/);
  assert.equal(new Set([firstUuid, a.uuid, b.uuid]).size, 3, "instances restored from one snapshot do not share the kernel's random state");

  // The snapshot goes with its version: once v2 takes the traffic, v1 is drained and released.
  const v1State = files.find((f) => f.file.endsWith(".vmstate"))!.file;
  assert.equal((await d.cli(["deploy", dir, "--app", "snap", "--version", "v2"])).code, 0);
  await until("v1's snapshot to be removed with v1", async () => ((await snapshotFiles()).some((f) => f.file === v1State) ? undefined : true), 120_000);

  const events = (await d.cliOk(["events", "--app", "snap", "--json", "-n", "1000"])).split("\n");
  const readyMs = (id: string) => events.map((l) => new RegExp(`instance ${id} ready in (\\d+) ms`).exec(l)?.[1]).find(Boolean);
  t.diagnostic(`start → ready: booted ${readyMs(first!.id)} ms, restored ${readyMs(a.instance.id)} ms and ${readyMs(b.instance.id)} ms`);
});
