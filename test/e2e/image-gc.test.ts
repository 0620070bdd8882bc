import assert from "node:assert/strict";
import { readFile, utimes } from "node:fs/promises";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, TestDaemon } from "./harness.js";

/**
 * Image GC through the daemon: the CLI and API route, the OpenAPI entry, and the background run after a
 * delete recording its result in `strata events`. Test daemons share their image store (STRATA_IMAGES),
 * so here the GC keeps every image and only removes unreachable data; what it removes and keeps in an
 * unshared store is covered by test/unit/images/prune.test.ts. The artifact store is always the daemon's
 * own, so there a deleted app's static tree goes (test/unit/artifacts/prune.test.ts covers the rest).
 */
const FIXTURE = join(REPO, "test", "fixtures", "apps", "static");
let d: TestDaemon;

before(async () => {
  d = await TestDaemon.start();
});

after(async () => {
  await d?.stop();
});

interface EventLine {
  type: string;
  message: string;
  data?: Record<string, unknown>;
}

async function events(): Promise<EventLine[]> {
  return (await d.cliOk(["events", "--json", "--limit", "200"])).trim().split("\n").map((l) => JSON.parse(l) as EventLine);
}

test("strata images prune --dry-run reports what it would remove, and is in the OpenAPI document", async () => {
  const r = await d.cli(["images", "prune", "--dry-run", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { dryRun: boolean; sharedLayout: boolean; images: string[]; bytesFreed: number; artifacts: { blobs: { count: number } } };
  assert.equal(result.dryRun, true);
  assert.equal(result.sharedLayout, true, "the test daemons' image store is outside their STRATA_HOME");
  assert.deepEqual(result.images, [], "a shared store keeps every image");
  assert.equal(typeof result.artifacts.blobs.count, "number");
  assert.match(r.stderr, /may be shared/);
  const openapi = JSON.parse((await d.api("GET", "/v1/openapi.json")).text) as { paths: Record<string, Record<string, unknown>> };
  assert.ok(openapi.paths["/v1/images/prune"]?.post);
});

/** The blob files of a static version's tree: the manifest, each file and its compressed copies. */
async function treeBlobPaths(app: string): Promise<string[]> {
  const [v] = JSON.parse(await d.cliOk(["versions", app, "--json"])) as Array<{ digest: string }>;
  const path = (digest: string) => join(d.home, "artifacts", "sha256", digest.slice(7, 9), digest.slice(9));
  const tree = JSON.parse(await readFile(path(v!.digest), "utf8")) as { files: Record<string, { digest: string; gzip?: string; br?: string }> };
  const digests = new Set([v!.digest, ...Object.values(tree.files).flatMap((f) => [f.digest, f.gzip, f.br].filter((x) => x !== undefined))]);
  return [...digests].map(path);
}

test("deleting an app runs the image GC in the background, which removes its static tree, and records it in strata events", { timeout: 6 * 60_000 }, async () => {
  await d.cliOk(["deploy", FIXTURE, "--app", "gc-site", "--version", "v1"]);
  const blobs = await treeBlobPaths("gc-site");
  // Stored long ago, as far as the GC can tell: past its grace period for content a deploy may be storing.
  const longAgo = new Date(Date.now() - 60 * 60_000);
  for (const p of blobs) await utimes(p, longAgo, longAgo);
  await d.cliOk(["apps", "delete", "gc-site", "--yes"]);
  // The first GC over a long-used shared test store may remove gigabytes: minutes, not seconds.
  let pruned: EventLine | undefined;
  const deadline = Date.now() + 5 * 60_000;
  for (let i = 0; i < 1000 && !pruned && Date.now() < deadline; i++) {
    pruned = (await events()).find((e) => e.type === "images.pruned" || e.type === "images.prune-failed");
    if (!pruned) await sleep(250);
  }
  assert.ok(pruned, "an images.pruned event within 5 min");
  assert.equal(pruned.type, "images.pruned", pruned.message);
  assert.match(pruned.message, /^image GC after deleting app gc-site: /);
  assert.equal(pruned.data?.sharedLayout, true);
  assert.match(pruned.message, new RegExp(`${blobs.length} artifact blob\\(s\\)`));
  assert.equal((pruned.data?.artifacts as { blobs: { count: number } }).blobs.count, blobs.length);
  for (const p of blobs) await assert.rejects(readFile(p), { code: "ENOENT" }, `${p} is gone`);
});
