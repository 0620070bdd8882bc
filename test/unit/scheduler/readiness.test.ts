import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { test } from "node:test";
import { budgetHint, startBudget, waitReady } from "../../../src/scheduler/readiness.js";

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

/** A loopback port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

test("ready once the app listens and its warm-up path answers below 500", async (t) => {
  const port = await freePort();
  const app = createServer((req, res) => res.writeHead(req.url === "/_ah/warmup" ? 200 : 404).end());
  t.after(() => app.close());
  setTimeout(() => void listen(app, port), 150); // the app takes a while to boot
  let livenessChecks = 0;
  await waitReady({ host: "127.0.0.1", port }, {
    timeoutMs: 5_000,
    httpPath: "/_ah/warmup",
    stillRunning: async () => {
      livenessChecks++;
      return true;
    },
  });
  assert.ok(livenessChecks <= 1, `the sandbox is asked at most every 200 ms, not at every connect attempt (${livenessChecks})`);
});

test("an app that exits before listening fails readiness with that reason", async () => {
  const port = await freePort();
  await assert.rejects(
    waitReady({ host: "127.0.0.1", port }, { timeoutMs: 5_000, stillRunning: async () => false }),
    (err: Error & { code?: string }) => err.code === "INSTANCE_FAILED" && /exited before it listened/.test(err.message),
  );
});

test("an app that never listens fails after the timeout; a 5xx warm-up fails too", async (t) => {
  const port = await freePort();
  await assert.rejects(
    waitReady({ host: "127.0.0.1", port }, { timeoutMs: 100, stillRunning: async () => true }),
    /did not listen on its port within 100 ms$/,
  );
  // With the budget's hint: where the figure came from and what to set.
  const hint = budgetHint(startBudget({ runtime: "java17" }, { name: "kata", capabilities: { coldStart: "seconds" } }));
  await assert.rejects(
    waitReady({ host: "127.0.0.1", port }, { timeoutMs: 100, timeoutHint: hint, stillRunning: async () => true }),
    /within 100 ms \(120 s, the kata default; an app that needs longer sets readiness_check: \{ app_start_timeout_sec: N \} in app\.yaml \(1 to 1800\)\)$/,
  );
  const failing = createServer((_req, res) => res.writeHead(503).end());
  t.after(() => failing.close());
  const failingPort = await listen(failing);
  await assert.rejects(
    waitReady({ host: "127.0.0.1", port: failingPort }, { timeoutMs: 2_000, httpPath: "/_ah/warmup", stillRunning: async () => true }),
    /GET \/_ah\/warmup answered 503/,
  );
});

const budgetCases = [
  { name: "the driver's cold-start class when nothing says otherwise", spec: {}, daemonMs: undefined, ms: 120_000, from: "the kata default" },
  { name: "the daemon's config.yaml setting over the class", spec: {}, daemonMs: 3_000, ms: 3_000, from: "config.yaml scheduler.app-start-timeout-sec" },
  { name: "the app's own readiness_check over both", spec: { readiness_check: { app_start_timeout_sec: 600 } }, daemonMs: 3_000, ms: 600_000, from: "app.yaml readiness_check.app_start_timeout_sec" },
  { name: "a readiness_check without app_start_timeout_sec changes nothing", spec: { readiness_check: {} }, daemonMs: undefined, ms: 120_000, from: "the kata default" },
] as const;

for (const c of budgetCases) {
  test(`start budget: ${c.name}`, () => {
    const b = startBudget({ runtime: "java17", ...c.spec }, { name: "kata", capabilities: { coldStart: "seconds" } }, c.daemonMs);
    assert.deepEqual(b, { ms: c.ms, from: c.from });
  });
}
