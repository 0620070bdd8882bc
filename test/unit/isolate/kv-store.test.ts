import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { KvError, KvStore } from "../../../src/sandbox/isolate/engine/kv-store.js";

/** What the differential test cannot show under workerd: time passing, and two engines sharing a namespace. */
async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "strata-kv-"));
  t.after(() => rm(d, { recursive: true, force: true }));
  return join(d, "ns");
}

const bytes = (s: string): ArrayBuffer => new TextEncoder().encode(s).buffer as ArrayBuffer;
const text = (b: ArrayBuffer | undefined): string => new TextDecoder().decode(b);

test("a key past its expiration is gone from get and list", async (t) => {
  const kv = new KvStore(await dir(t));
  await kv.put("short", bytes("v"), { expirationTtl: 60 });
  await kv.put("long", bytes("v"), { expirationTtl: 3600 });
  const realNow = Date.now;
  const later = realNow() + 61_000;
  Date.now = () => later;
  try {
    assert.equal(await kv.get("short"), null);
    assert.deepEqual((await kv.list("", undefined, undefined)).keys.map((k) => k.name), ["long"]);
  } finally {
    Date.now = realNow;
  }
  assert.equal(text((await kv.get("short"))?.value), "v", "not expired yet in real time");
});

test("two stores on one directory (two engine processes) see each other's writes; no temporary file is left", async (t) => {
  const d = await dir(t);
  const a = new KvStore(d);
  const b = new KvStore(d);
  await a.put("k", bytes("from a"), { metadata: JSON.stringify({ by: "a" }) });
  assert.deepEqual(await b.get("k").then((e) => e && { v: text(e.value), m: e.metadata }), { v: "from a", m: '{"by":"a"}' });
  await b.delete("k");
  assert.equal(await a.get("k"), null);
  await Promise.all(Array.from({ length: 20 }, (_, i) => a.put(`p${i}`, bytes(String(i)), {})));
  assert.equal((await b.list("p", undefined, undefined)).keys.length, 20);
  assert.deepEqual((await readdir(d)).filter((f) => f.endsWith(".tmp")), []);
});

test("a value over 25 MiB and a list limit over 1000 are refused as Cloudflare refuses them", async (t) => {
  const kv = new KvStore(await dir(t));
  await assert.rejects(kv.put("big", new ArrayBuffer(25 * 1024 * 1024 + 1), {}), (e: unknown) => e instanceof KvError && /413 Value length of 26214401 exceeds limit of 26214400/.test(e.message));
  await assert.rejects(kv.list("", 1001, undefined), (e: unknown) => e instanceof KvError && /key_count_limit/.test(e.message));
});
