import assert from "node:assert/strict";
import { test } from "node:test";
import { ReadyCalls } from "../../../src/sandbox/microvm/ready-calls.js";

test("ReadyCalls: a wait ends true on ready(id), and ready() says whether anything waited", async () => {
  const calls = new ReadyCalls();
  assert.equal(calls.ready("i1"), false, "nothing waits yet");
  const waiting = calls.wait("i1", new AbortController().signal);
  assert.equal(calls.ready("i2"), false, "another instance's readiness does not end it");
  assert.equal(calls.ready("i1"), true);
  assert.equal(await waiting, true);
  assert.equal(calls.ready("i1"), false, "one wait, one call");
});

test("ReadyCalls: an abort ends the wait false and forgets it", async () => {
  const calls = new ReadyCalls();
  const abort = new AbortController();
  const waiting = calls.wait("i1", abort.signal);
  abort.abort();
  assert.equal(await waiting, false);
  assert.equal(calls.ready("i1"), false);
  const aborted = new AbortController();
  aborted.abort();
  assert.equal(await calls.wait("i2", aborted.signal), false, "an aborted signal never waits");
  assert.equal(calls.ready("i2"), false);
});
