import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { withFileLock } from "../system/file-lock.js";
import { ignoreMissing } from "../system/fs.js";
import { processExists } from "../system/process.js";

const POLL_MS = 250;
/** How often a collector looks again while writers are busy. */
const RETRY_MS = 1_000;

/**
 * Who may change the image store at once, across every process sharing it: any number of writers (builds,
 * imports: each holds a lease file naming its pid) or one collector (image GC: an exclusive lock file).
 * A writer writes blobs first and tags them last, so a collector running in between would see them
 * unreferenced and delete them; the lease closes that window. Both sides announce themselves before
 * looking at the other (lease then check the lock; lock then check the leases), so they cannot both
 * proceed; a writer that sees the collector waits, a collector that sees writers lets go and retries.
 * Files of dead processes count as absent.
 */
export class LayoutLock {
  private readonly gcLock: string;
  private readonly leases: string;

  constructor(locksDir: string) {
    this.gcLock = join(locksDir, "layout-gc.lock");
    this.leases = join(locksDir, "layout-writers");
  }

  /** Runs `fn` as a writer; waits while a collector runs (`onWait` is told once, with its pid). */
  async write<T>(fn: () => Promise<T>, onWait?: (collectorPid: number) => void): Promise<T> {
    await mkdir(this.leases, { recursive: true });
    const lease = join(this.leases, `${process.pid}-${randomBytes(4).toString("hex")}`);
    let announced = false;
    for (;;) {
      await writeFile(lease, String(process.pid));
      const collector = await this.collectorPid();
      if (collector === null) break;
      await rm(lease, { force: true });
      if (!announced) onWait?.(collector);
      announced = true;
      await sleep(POLL_MS);
    }
    try {
      return await fn();
    } finally {
      await rm(lease, { force: true });
    }
  }

  /**
   * Runs `fn` as the one collector, once no writer holds a lease. While writers are busy it does not hold
   * the lock (so builds starting meanwhile are not held up by a waiting collector); it retries until a
   * moment with none. `onWait` is told once what it waits for.
   */
  async collect<T>(fn: () => Promise<T>, onWait?: (what: string) => void): Promise<T> {
    await mkdir(this.leases, { recursive: true });
    let announced = false;
    for (;;) {
      const attempt = await withFileLock(
        this.gcLock,
        async (): Promise<{ done: true; value: T } | { done: false; writers: number[] }> => {
          const writers = await this.liveWriters();
          return writers.length ? { done: false, writers } : { done: true, value: await fn() };
        },
        (pid) => onWait?.(`waiting for the image GC running in process ${pid}`),
      );
      if (attempt.done) return attempt.value;
      if (!announced) onWait?.(`waiting for ${attempt.writers.length} build(s) or import(s) writing images (pid ${[...new Set(attempt.writers)].join(", ")})`);
      announced = true;
      await sleep(RETRY_MS);
    }
  }

  /** The pid of a live collector, or null. */
  private async collectorPid(): Promise<number | null> {
    const pid = Number.parseInt(await readFile(this.gcLock, "utf8").catch(ignoreMissing("")), 10);
    return pid > 0 && processExists(pid) ? pid : null;
  }

  /** Pids of live writers; leases of dead processes (a crashed build) are removed. */
  private async liveWriters(): Promise<number[]> {
    const live: number[] = [];
    for (const name of await readdir(this.leases).catch(ignoreMissing([] as string[]))) {
      const pid = Number.parseInt(name, 10);
      if (pid > 0 && processExists(pid)) live.push(pid);
      else await rm(join(this.leases, name), { force: true });
    }
    return live;
  }
}
