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
 * STRATA_HOME, one folder per prepared version holding a pair of files per key, so they serve a
 * restarted daemon too and removeVersion() (the version's release) finds them all.
 */
export class SnapshotStore {
  constructor(private readonly dir: string) {}

  /** The key of what a restore must match exactly: the VM's shape and the app it runs. */
  static key(parts: readonly unknown[]): string {
    return hash(parts);
  }

  private versionDir(version: string): string {
    return join(this.dir, hash([version]));
  }

  private paths(version: string, key: string): Snapshot {
    const dir = this.versionDir(version);
    return { state: join(dir, `${key}.vmstate`), runDisk: join(dir, `${key}.run.img`) };
  }

  /** The snapshot for `key` when one is complete. */
  async get(version: string, key: string): Promise<Snapshot | undefined> {
    const p = this.paths(version, key);
    return (await pathExists(p.state)) && (await pathExists(p.runDisk)) ? p : undefined;
  }

  /** Writes a snapshot through `write` (given a temporary path) and publishes it whole. */
  async put(version: string, key: string, runDisk: string, write: (stateFile: string) => Promise<void>): Promise<void> {
    await mkdir(this.versionDir(version), { recursive: true });
    const p = this.paths(version, key);
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

  /** Removes one snapshot (one that failed to restore). */
  async remove(version: string, key: string): Promise<void> {
    const p = this.paths(version, key);
    await rm(p.state, { force: true });
    await rm(p.runDisk, { force: true });
  }

  /** Removes every snapshot of a version. */
  async removeVersion(version: string): Promise<void> {
    await rm(this.versionDir(version), { recursive: true, force: true });
  }
}

function hash(parts: readonly unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 24);
}
