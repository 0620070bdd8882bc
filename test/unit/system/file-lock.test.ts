import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { withFileLock } from "../../../src/system/file-lock.js";

/** A pid no process has: above Linux's largest pid_max (2^22). */
const DEAD_PID = 2 ** 30;

test("waiters that all find a dead owner's lock take it over one at a time", { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-lock-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "lock");
  // Many rounds: the lost takeover needs two waiters to read the dead pid before either replaces it.
  for (let round = 0; round < 20; round++) {
    await writeFile(path, String(DEAD_PID));
    let holders = 0;
    let most = 0;
    let entered = 0;
    await Promise.all(
      Array.from({ length: 4 }, () =>
        withFileLock(path, async () => {
          holders++;
          entered++;
          most = Math.max(most, holders);
          await sleep(2);
          holders--;
        }),
      ),
    );
    assert.equal(entered, 4, `round ${round}: every waiter got the lock`);
    assert.equal(most, 1, `round ${round}: ${most} waiters held the lock at once`);
  }
  assert.deepEqual(await readdir(dir), [], "no lock or takeover file is left behind");
});

test("a live owner's lock is waited for, and the waiter is told who holds it", { timeout: 10_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-lock-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "lock");
  const order: string[] = [];
  let toldOwner: number | undefined;
  let release!: () => void;
  const first = withFileLock(path, async () => {
    order.push("first in");
    await new Promise<void>((r) => (release = r));
    order.push("first out");
  });
  while (order.length === 0) await sleep(5);
  const second = withFileLock(path, async () => void order.push("second"), (pid) => (toldOwner = pid));
  await sleep(100);
  release();
  await Promise.all([first, second]);
  assert.deepEqual(order, ["first in", "first out", "second"]);
  assert.equal(toldOwner, process.pid);
});
