import assert from "node:assert/strict";
import { test } from "node:test";
import { SingleFlight } from "../../../src/system/single-flight.js";

test("a second run for a key under way joins the first; a later one runs anew", async () => {
  const flights = new SingleFlight<number>();
  let runs = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const first = flights.run("a", async () => {
    runs++;
    await gate;
    return runs;
  });
  const second = flights.run("a", async () => ++runs);
  assert.equal(flights.has("a"), true);
  release();
  assert.deepEqual(await Promise.all([first, second]), [1, 1]);
  assert.equal(flights.has("a"), false);
  assert.equal(await flights.run("a", async () => ++runs), 2);
});

test("a failed run is not kept: the next run for its key runs", async () => {
  const flights = new SingleFlight<string>();
  await assert.rejects(flights.run("k", async () => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(await flights.run("k", async () => "ok"), "ok");
});
