import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LogTail } from "../../../src/sandbox/oci/log-tail.js";

test("a plain output file is followed line by line and emptied in place past its cap, the writer appending on", async () => {
  const dir = await mkdtemp(join(tmpdir(), "strata-logcap-"));
  try {
    const file = join(dir, "stdout.log");
    const writer = await open(file, "a"); // O_APPEND, as the LXC holder's stdout
    const lines: string[] = [];
    const tail = new LogTail(file, join(dir, "stdout.offset"), { log: (stream, line) => lines.push(`${stream}: ${line}`) }, "stdout", 64);
    await tail.start();
    for (let i = 0; i < 10; i++) await writer.write(`line ${i} ${"x".repeat(20)}\n`);
    // The lines are handed on before the file is emptied: wait (bounded) for both.
    for (let i = 0; i < 50 && (lines.length < 10 || (await stat(file)).size !== 0); i++) await sleep(50);
    assert.equal(lines.length, 10);
    assert.equal((await stat(file)).size, 0, "emptied once read past 64 bytes");
    await writer.write("after the cap\n");
    for (let i = 0; i < 50 && lines.length < 11; i++) await sleep(50);
    await tail.stop();
    await writer.close();
    assert.equal(lines.at(-1), "stdout: after the cap");
    assert.equal((await stat(file)).size, "after the cap\n".length, "the writer goes on at the start of the emptied file");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
