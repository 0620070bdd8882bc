import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LogStore } from "../../../src/logs/log-store.js";

test("a line just appended is read back at once, and close() finishes with lines still buffered", { timeout: 5_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-logstore-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const logs = new LogStore(dir);
  const line = { kind: "app", time: new Date().toISOString(), app: "a", version: "v1", instance: "i1", stream: "stdout", line: "hello" } as const;
  logs.append(line);
  assert.deepEqual(await logs.recent("a", 10), [line]);
  logs.append({ ...line, line: "bye" });
  await logs.close();
  assert.deepEqual((await new LogStore(dir).recent("a", 10)).map((l) => l.kind === "app" && l.line), ["hello", "bye"]);
});
