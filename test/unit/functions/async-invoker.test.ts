import assert from "node:assert/strict";
import { test } from "node:test";
import { AsyncInvoker } from "../../../src/functions/async-invoker.js";
import { InvokeRefused } from "../../../src/functions/errors.js";
import type { InvokeResult } from "../../../src/functions/invoker.js";
import type { NewEvent, VersionRecord } from "../../../src/store/types.js";

const v = { app: "f", version: "v1" } as VersionRecord;
const ok = (requestId: string): InvokeResult => ({ requestId, version: "v1", payload: Buffer.from("{}"), durationMs: 1 });
const failed = (requestId: string): InvokeResult => ({ ...ok(requestId), functionError: "Handled", payload: Buffer.from('{"errorType":"Error","errorMessage":"no"}') });

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

test("a failing asynchronous invocation is tried three times (two retries, as Lambda), then recorded as failed", async () => {
  const attempts: string[] = [];
  const events: NewEvent[] = [];
  const a = new AsyncInvoker({ invoker: { invoke: async (_v, _p, o) => (attempts.push(o!.requestId!), failed(o!.requestId!)) }, events: { addEvent: (e) => events.push(e) }, retryDelaysMs: [5, 10] });
  const id = a.enqueue(v, Buffer.from("{}"));
  const e = await eventually(events);
  assert.equal(attempts.length, 3);
  assert.equal(attempts[0], id);
  assert.equal(new Set(attempts).size, 3, "each attempt has its own request id");
  assert.equal(e.type, "function.async-failed");
  assert.deepEqual(e.data, { requestId: id, attempts: 3, error: { errorType: "Error", errorMessage: "no" } });
  assert.equal(a.close(), 0);
});

test("a success on a retry is recorded as succeeded; a throttle waits without counting as an attempt", async () => {
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
    retryDelaysMs: [5, 5],
  });
  const id = a.enqueue(v, Buffer.from("{}"));
  const e = await eventually(events);
  assert.equal(e.type, "function.async-succeeded");
  assert.deepEqual(e.data, { requestId: id, attempts: 2 });
  a.close();
});

test("an event over 256 KB is refused at once", () => {
  const a = new AsyncInvoker({ invoker: { invoke: async () => ok("x") }, events: { addEvent: () => undefined } });
  assert.throws(() => a.enqueue(v, Buffer.alloc(256 * 1024 + 1)), (e: unknown) => e instanceof InvokeRefused && e.status === 413);
  a.close();
});
