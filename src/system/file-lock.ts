import { open, readFile, rm } from "node:fs/promises";
import { processExists } from "./process.js";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * A lock across processes sharing one STRATA_HOME: a file created exclusively that holds the owner's pid.
 * A lock whose owner process is gone (crashed mid-build) is taken over.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, onWait?: (ownerPid: number) => void): Promise<T> {
  let announced = false;
  for (;;) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
    if (Number.isFinite(owner) && owner > 0 && !processExists(owner)) {
      await rm(path, { force: true });
      continue;
    }
    if (!announced && Number.isFinite(owner)) onWait?.(owner);
    announced = true;
    await sleep(500);
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
