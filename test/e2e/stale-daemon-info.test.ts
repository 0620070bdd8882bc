import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { procStat } from "../../src/system/process.js";
import { zombiePid } from "../unit/helpers/zombie.js";
import { TestDaemon } from "./harness.js";

test("strata up starts when daemon.json names a zombie (a daemon killed with -9 that nobody reaped yet)", { timeout: 90_000 }, async (t) => {
  const { zombie } = await zombiePid(t);
  for (let i = 0; i < 100 && procStat(zombie)?.state !== "Z"; i++) await sleep(10);
  assert.equal(procStat(zombie)?.state, "Z");
  const d = await TestDaemon.start({ leftoverInfo: { pid: zombie, startTime: procStat(zombie)!.startTime, apiUrl: "http://127.0.0.1:1" } });
  t.after(() => d.stop());
  assert.notEqual(d.info.pid, zombie);
  await d.cliOk(["apps"]); // the API answers: this start is the running daemon
});

test("strata up starts when daemon.json names a live pid with another start time (a reused pid)", { timeout: 90_000 }, async (t) => {
  const { parent } = await zombiePid(t);
  const d = await TestDaemon.start({ leftoverInfo: { pid: parent, startTime: procStat(parent)!.startTime - 1, apiUrl: "http://127.0.0.1:1" } });
  t.after(() => d.stop());
  assert.notEqual(d.info.pid, parent);
});
