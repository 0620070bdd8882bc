import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { AsyncInvoker } from "../../../src/functions/async-invoker.js";
import { InvokeRefused } from "../../../src/functions/errors.js";
import type { InvokeResult } from "../../../src/functions/invoker.js";
import type { NewEvent, VersionRecord } from "../../../src/store/types.js";

const v = { app: "f", version: "v1" } as VersionRecord;
const ok = (requestId: string): InvokeResult => ({ requestId, version: "v1", payload: Buffer.from("{}"), durationMs: 1 });
const failed = (requestId: string): InvokeResult => ({ ...ok(requestId), functionError: "Handled", payload: Buffer.from('{"errorType":"Error","errorMessage":"no"}') });

async function queueDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "strata-async-queue-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function eventually(events: NewEvent[]): Promise<NewEvent> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (events.length) {
        clearInterval(t);
        resolve(events[0]!);
      }
    }, 2);
  });
}

test("a failing asynchronous invocation is tried three times (two retries, as Lambda), then recorded as failed", async (t) => {
  const attempts: string[] = [];
  const events: NewEvent[] = [];
  const a = new AsyncInvoker({ invoker: { invoke: async (_v, _p, o) => (attempts.push(o!.requestId!), failed(o!.requestId!)) }, events: { addEvent: (e) => events.push(e) }, queueDir: await queueDir(t), retryDelaysMs: [5, 10] });
  const id = a.enqueue(v, Buffer.from("{}"));
  const e = await eventually(events);
  assert.equal(attempts.length, 3);
  assert.equal(attempts[0], id);
  assert.equal(new Set(attempts).size, 3, "each attempt has its own request id");
  assert.equal(e.type, "function.async-failed");
  assert.deepEqual(e.data, { requestId: id, attempts: 3, error: { errorType: "Error", errorMessage: "no" } });
  assert.equal(a.close(), 0);
});

test("a success on a retry is recorded as succeeded; a throttle waits without counting as an attempt", async (t) => {
  let n = 0;
  const events: NewEvent[] = [];
  const a = new AsyncInvoker({
    invoker: {
      invoke: async (_v, _p, o) => {
        n++;
        if (n === 1) throw new InvokeRefused(429, "TooManyRequestsException", "Rate Exceeded.");
        return n === 2 ? failed(o!.requestId!) : ok(o!.requestId!);
      },
    },
    events: { addEvent: (e) => events.push(e) },
    queueDir: await queueDir(t),
    retryDelaysMs: [5, 5],
  });
  const id = a.enqueue(v, Buffer.from("{}"));
  const e = await eventually(events);
  assert.equal(e.type, "function.async-succeeded");
  assert.deepEqual(e.data, { requestId: id, attempts: 2 });
  a.close();
});

test("an event over 256 KB is refused at once", async (t) => {
  const a = new AsyncInvoker({ invoker: { invoke: async () => ok("x") }, events: { addEvent: () => undefined }, queueDir: await queueDir(t) });
  assert.throws(() => a.enqueue(v, Buffer.alloc(256 * 1024 + 1)), (e: unknown) => e instanceof InvokeRefused && e.status === 413);
  a.close();
});

test("events still waiting when the daemon stops run after it starts again, with the retries they had left; a gone version or a broken file is recorded", async (t) => {
  const dir = await queueDir(t);
  const before = new AsyncInvoker({ invoker: { invoke: async (_v, _p, o) => failed(o!.requestId!) }, events: { addEvent: () => undefined }, queueDir: dir, retryDelaysMs: [60_000, 60_000] });
  const waiting = before.enqueue(v, Buffer.from('{"n":1}'));
  // The first attempt fails and the event waits a minute for its first retry; then the daemon stops.
  for (let i = 0; i < 200 && !(await readdir(dir)).length; i++) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(before.close(), 1, "one event still waits");
  const gone = { requestId: "0b8d4a9e-6a44-4c6e-9d7a-3f1f7f0b2c11", app: "deleted-fn", version: "v9", payload: "e30=", retries: 0 };
  await writeFile(join(dir, `${gone.requestId}.json`), JSON.stringify(gone));
  await writeFile(join(dir, "broken.json"), "{ half a file");

  const runs: Array<{ requestId: string; payload: string }> = [];
  const events: NewEvent[] = [];
  const after = new AsyncInvoker({
    invoker: { invoke: async (_v, p, o) => (runs.push({ requestId: o!.requestId!, payload: p.toString() }), ok(o!.requestId!)) },
    events: { addEvent: (e) => events.push(e) },
    queueDir: dir,
    retryDelaysMs: [5, 5],
  });
  assert.equal(after.resume((app, version) => (app === "f" && version === "v1" ? v : undefined)), 1);
  for (let i = 0; i < 400 && events.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(runs.length, 1);
  assert.equal(runs[0]!.payload, '{"n":1}');
  assert.notEqual(runs[0]!.requestId, waiting, "a retry has its own request id");
  const byType = (type: string) => events.filter((e) => e.type === type);
  assert.deepEqual(byType("function.async-succeeded").map((e) => e.data), [{ requestId: waiting, attempts: 2 }], "it ran as its first retry");
  assert.ok(byType("function.async-failed").some((e) => /version v9 of deleted-fn no longer exists/.test(e.message)));
  assert.ok(byType("function.async-failed").some((e) => /\(broken\.json\) could not be read and was set aside as broken\.json\.bad/.test(e.message)));
  assert.deepEqual(await readdir(dir), ["broken.json.bad"], "what ran or was recorded is gone from the queue");
  after.close();
});
