import assert from "node:assert/strict";
import { test } from "node:test";
import { exec } from "../../../src/system/exec.js";

test("a command that exits without reading its input is judged by its exit status, not by EPIPE", async () => {
  const big = "x".repeat(1 << 20); // more than a pipe holds, so the write outlives `true`
  for (let i = 0; i < 10; i++) assert.equal((await exec(["true"], { input: big })).code, 0);
  await assert.rejects(exec(["false"], { input: big }), (err: Error & { code?: string }) => err.code === "COMMAND_FAILED" && /exited 1/.test(err.message));
});

test("input reaches a command that reads it, and a missing command says how to install it", async () => {
  assert.equal((await exec(["cat"], { input: "hello" })).stdout, "hello");
  await assert.rejects(exec(["strata-no-such-command"]), /is not installed \(run scripts\/setup-host\.sh\)/);
});
