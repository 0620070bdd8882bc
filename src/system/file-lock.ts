import { link, readFile, rename, rm, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { processExists } from "./process.js";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * A lock across processes sharing one STRATA_HOME: a file that holds the owner's pid. It appears whole
 * (written aside, then hard-linked into place, which fails if it exists), so a waiter never reads a half
 * made lock. A lock whose owner is gone (crashed mid-build) is taken over, once: see takeOver().
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, onWait?: (ownerPid: number) => void): Promise<T> {
  const mine = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(mine, String(process.pid));
  let announced = false;
  try {
    for (;;) {
      try {
        await link(mine, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const owner = await ownerOf(path);
      if (owner !== undefined && !processExists(owner)) {
        if (await takeOver(path, owner, mine)) break;
        continue;
      }
      if (!announced && owner !== undefined) onWait?.(owner);
      announced = true;
      await sleep(500);
    }
  } finally {
    await rm(mine, { force: true });
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

async function ownerOf(path: string): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Replaces the lock of dead owner `dead` with ours. Several waiters may find the same dead owner; only the
 * one that creates `<lock>.takeover-<dead>` (O_EXCL) may replace it, and only if the lock still names that
 * owner, so a waiter that was slow to look never replaces a lock another waiter just took. The rename
 * replaces the file in one step: there is no moment without a lock for a third waiter to slip into.
 * The marker goes once the lock names someone else; one left by a taker that died inside this function is
 * cleared when its own writer is found dead.
 */
async function takeOver(path: string, dead: number, mine: string): Promise<boolean> {
  const marker = `${path}.takeover-${dead}`;
  try {
    await writeFile(marker, String(process.pid), { flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const taker = await ownerOf(marker);
    if (taker !== undefined && !processExists(taker)) await rm(marker, { force: true });
    else await sleep(10); // another waiter is taking it over this moment
    return false;
  }
  try {
    if ((await ownerOf(path)) !== dead) return false;
    // A hard link keeps `mine` for the caller to remove, as after link(); the rename is the atomic step.
    const staged = `${mine}.staged`;
    await link(mine, staged);
    await rename(staged, path);
    return true;
  } finally {
    await rm(marker, { force: true });
  }
}
