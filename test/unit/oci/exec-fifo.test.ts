import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { access, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { startThroughExecFifo } from "../../../src/sandbox/oci/exec-fifo.js";
import { exec } from "../../../src/system/exec.js";

/** A state root with `<id>/exec.fifo`, as `runc create` leaves it. */
async function stateWithFifo(t: { after(fn: () => Promise<void>): void }): Promise<{ root: string; fifo: string }> {
  const root = await mkdtemp(join(tmpdir(), "strata-fifo-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, "c1"));
  const fifo = join(root, "c1", "exec.fifo");
  await exec(["mkfifo", fifo]);
  return { root, fifo };
}

/** Stands in for `runc init`: opens the fifo for writing (blocking until a reader), writes `data`, exits. */
function initWriting(fifo: string, data: string): Promise<void> {
  const child = spawn("sh", ["-c", 'printf "$1" > "$0"', fifo, data], { stdio: "ignore" });
  return new Promise((resolve) => child.on("exit", () => resolve()));
}

test("no exec fifo: the caller falls back to the runtime's start", async (t) => {
  const { root } = await stateWithFifo(t);
  assert.equal(await startThroughExecFifo(root, "other"), false);
});

test("reads init's start byte and removes the fifo, whichever side opens first", async (t) => {
  const { root, fifo } = await stateWithFifo(t);
  const writer = initWriting(fifo, "0");
  assert.equal(await startThroughExecFifo(root, "c1"), true);
  await writer;
  await assert.rejects(access(fifo), { code: "ENOENT" });

  await exec(["mkfifo", fifo]);
  const reading = startThroughExecFifo(root, "c1"); // the reader is there before init opens its end
  await sleep(50);
  const late = initWriting(fifo, "0");
  assert.equal(await reading, true);
  await late;
});

test("an init that closes the fifo without writing fails the start", async (t) => {
  const { root, fifo } = await stateWithFifo(t);
  const outcome = startThroughExecFifo(root, "c1").then(() => null, (err: Error & { code?: string }) => err);
  await sleep(20);
  await initWriting(fifo, "");
  const err = await outcome;
  assert.equal(err?.code, "INSTANCE_FAILED");
  assert.match(err.message, /died before the app started/);
});
