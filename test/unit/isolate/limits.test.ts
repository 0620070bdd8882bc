import assert from "node:assert/strict";
import { test } from "node:test";
import { call, LogSink, newDriver, prepareFixture, spec, startTestWorker } from "./helpers.js";

test("an allocation bomb hits the (capped) memory limit: isolate reset, 503 with a log line; another tenant keeps answering", async (t) => {
  // A generous CPU budget, so that the memory limit (not the CPU limit) is what stops the bomb;
  // the instance asks for 4 GiB and gets the driver's per-isolate cap.
  const { driver, home } = await newDriver(t, { cpuMsPerRequest: 30_000, maxMemoryMb: 16 });
  const prepared = await prepareFixture(driver, home, "isolate-ts");
  const bombLogs = new LogSink();
  const bomber = await driver.start(prepared, spec("mem-a", {}, 4096), bombLogs);
  const other = await driver.start(prepared, spec("mem-b", {}, 16), new LogSink());

  const bombing = call(bomber, "/bomb");
  let answered = 0;
  let done = false;
  void bombing.finally(() => (done = true));
  while (!done && answered < 200) {
    assert.equal((await call(other, "/")).body, "hello from typescript");
    answered++;
  }
  const res = await bombing;
  assert.equal(res.status, 503);
  assert.match(res.body, /request exceeded the memory limit of 16 MiB; the isolate was reset/);
  await bombLogs.waitFor(/^stderr: request exceeded the memory limit of 16 MiB; the isolate was reset$/);
  assert.ok(answered > 0, "the other tenant answered while the bomb ran");
  assert.equal((await call(bomber, "/")).body, "hello from typescript", "the bomber's instance serves again");
  assert.equal((await call(other, "/")).body, "hello from typescript");
});

test("ctx.waitUntil work is waited for up to the limit after its response, then let go with a log line", async (t) => {
  const { inst, logs } = await startTestWorker(t, "wait-limit", `export default {
    async fetch(request, env, ctx) {
      const url = new URL(request.url);
      if (url.pathname === "/forever") ctx.waitUntil(new Promise(() => {}));
      if (url.pathname === "/quick") ctx.waitUntil(new Promise((r) => setTimeout(r, 20)).then(() => console.log("quick waitUntil done")));
      return new Response("answered", { status: 202 });
    },
  };`, { waitUntilMs: 300 });
  assert.equal((await call(inst, "/quick")).status, 202);
  await logs.waitFor(/quick waitUntil done/);
  assert.equal((await call(inst, "/forever")).status, 202);
  await logs.waitFor(/ctx\.waitUntil\(\) work was still running 300 ms after the response; it is no longer waited for/);
  assert.equal(logs.lines.filter((l) => /no longer waited for/.test(l)).length, 1, "the quick one was not cut off");
  assert.equal((await call(inst, "/quick")).status, 202, "the isolate still answers");
});
