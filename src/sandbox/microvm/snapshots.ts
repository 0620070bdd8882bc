import { createHash } from "node:crypto";
import { copyFile, mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { pathExists } from "../../system/fs.js";

export interface Snapshot {
  /** The VMM's migration stream: guest memory and device state. */
  readonly state: string;
  /** The run disk the snapshotted guest booted with (a restore must attach the same disk). */
  readonly runDisk: string;
}

/**
 * Snapshots of a version's first ready instance, for scale from zero: later instances of the same version
 * (same image, kernel, initramfs, command and memory) restore one instead of booting. Kept under
 * STRATA_HOME, one pair of files per key; release() of the version removes them.
 */
export class SnapshotStore {
  constructor(private readonly dir: string) {}

  /** The key of what a restore must match exactly: the VM's shape and the app it runs. */
  static key(parts: readonly unknown[]): string {
    return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 24);
  }

  private paths(key: string): Snapshot {
    return { state: join(this.dir, `${key}.vmstate`), runDisk: join(this.dir, `${key}.run.img`) };
  }

  /** The snapshot for `key` when one is complete. */
  async get(key: string): Promise<Snapshot | undefined> {
    const p = this.paths(key);
    return (await pathExists(p.state)) && (await pathExists(p.runDisk)) ? p : undefined;
  }

  /** Writes a snapshot through `write` (given a temporary path) and publishes it whole. */
  async put(key: string, runDisk: string, write: (stateFile: string) => Promise<void>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const p = this.paths(key);
    const tmp = `${p.state}.tmp-${process.pid}`;
    try {
      await copyFile(runDisk, p.runDisk);
      await write(tmp);
      await rename(tmp, p.state);
    } catch (err) {
      await rm(p.runDisk, { force: true }); // no half snapshot: get() wants both files
      throw err;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Removes the snapshots of these keys. */
  async remove(keys: Iterable<string>): Promise<void> {
    for (const key of keys) {
      const p = this.paths(key);
      await rm(p.state, { force: true });
      await rm(p.runDisk, { force: true });
    }
  }
}
