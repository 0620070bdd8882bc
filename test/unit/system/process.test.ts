import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { processExists, processRunning, procStat } from "../../../src/system/process.js";
import { zombiePid } from "../helpers/zombie.js";

test("a zombie is not running, though its pid still exists", { timeout: 10_000 }, async (t) => {
  const { zombie, parent } = await zombiePid(t);
  // The child exits at once; wait for it to become a zombie.
  for (let i = 0; i < 100 && procStat(zombie)?.state !== "Z"; i++) await sleep(10);
  assert.equal(procStat(zombie)?.state, "Z");
  assert.equal(processExists(zombie), true);
  assert.equal(processRunning(zombie), false);
  assert.equal(processRunning(zombie, procStat(zombie)!.startTime), false);
  assert.equal(processRunning(parent), true);
});

test("a live pid with another start time is another process (a reused pid)", () => {
  const self = procStat(process.pid)!;
  assert.ok(Number.isInteger(self.startTime) && self.startTime > 0, JSON.stringify(self));
  assert.equal(processRunning(process.pid, self.startTime), true);
  assert.equal(processRunning(process.pid, self.startTime + 1), false);
  assert.equal(processRunning(process.pid), true, "without a recorded start time, any live process with the pid counts");
});

test("a process that exited and was reaped is not running", { timeout: 10_000 }, async () => {
  const child = spawn("true");
  await once(child, "exit");
  assert.equal(procStat(child.pid!), undefined);
  assert.equal(processRunning(child.pid!), false);
});
