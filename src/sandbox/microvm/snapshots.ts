import { createHash } from "node:crypto";
import { copyFile, mkdir, readdir, rename, rm, rmdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { ignoreMissing, pathExists, touchIfPresent } from "../../system/fs.js";
import { processExists } from "../../system/process.js";

export interface Snapshot {
  /** The VMM's migration stream: guest memory and device state. */
  readonly state: string;
  /** The run disk the snapshotted guest booted with (a restore must attach the same disk). */
  readonly runDisk: string;
}

/** What the snapshots of all versions may take on disk unless config.yaml says otherwise (microvm.snapshot-disk-mb). */
export const DEFAULT_SNAPSHOT_DISK_MB = 2048;
/** A run disk without its state this old is a put() that died (a put writes both within seconds). */
const ORPHAN_AGE_MS = 10 * 60_000;

/**
 * Snapshots of a version's first ready instance, for scale from zero: later instances of the same version
 * (same image, kernel, initramfs, command and memory) restore one instead of booting. Kept under
 * STRATA_HOME, one folder per prepared version holding a pair of files per key, so they serve a
 * restarted daemon too and removeVersion() (the version's release) finds them all.
 *
 * A snapshot is a cache: losing one costs a start its speed, never the start. So the store keeps itself
 * within a disk budget, least recently used first out (a restore counts as a use), which also bounds what
 * a version released by no daemon (one that stopped serving after a restart, before any start) leaves.
 */
export class SnapshotStore {
  constructor(
    private readonly dir: string,
    private readonly budgetBytes = DEFAULT_SNAPSHOT_DISK_MB * 1024 * 1024,
  ) {}

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

  /** The snapshot for `key` when one is complete; marked as used now (the budget evicts the least recently used). */
  async get(version: string, key: string): Promise<Snapshot | undefined> {
    const p = this.paths(version, key);
    if (!(await pathExists(p.state)) || !(await pathExists(p.runDisk))) return undefined;
    return (await touchIfPresent(p.state)) ? p : undefined; // gone meanwhile: evicted
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
    await this.prune(p.state);
  }

  /**
   * Keeps the store within its budget: removes what dead writers left (a temporary state file of a
   * process that is gone, a run disk whose state never came), then the least recently used snapshots
   * until the rest fit, never `keep` (the one just written). Returns the bytes it freed.
   */
  async prune(keep?: string): Promise<number> {
    const pairs: Array<{ state: string; runDisk: string; bytes: number; usedMs: number }> = [];
    let freed = 0;
    const drop = async (path: string, bytes: number) => {
      await rm(path, { force: true });
      freed += bytes;
    };
    for (const v of await readdir(this.dir, { withFileTypes: true }).catch(ignoreMissing([]))) {
      if (!v.isDirectory()) continue;
      const vdir = join(this.dir, v.name);
      const files = await readdir(vdir).catch(ignoreMissing([] as string[]));
      const sizes = new Map<string, { bytes: number; mtimeMs: number }>();
      for (const f of files) {
        const st = await stat(join(vdir, f)).catch(ignoreMissing(undefined));
        if (st) sizes.set(f, { bytes: st.blocks * 512, mtimeMs: st.mtimeMs }); // allocated blocks: run disk copies are sparse
      }
      for (const [f, { bytes, mtimeMs }] of sizes) {
        const writer = /\.vmstate\.tmp-(\d+)$/.exec(f)?.[1];
        if (writer !== undefined && Number(writer) !== process.pid && !processExists(Number(writer))) await drop(join(vdir, f), bytes);
        const key = /^(.+)\.run\.img$/.exec(f)?.[1];
        if (key === undefined) continue;
        const state = sizes.get(`${key}.vmstate`);
        if (state) pairs.push({ state: join(vdir, `${key}.vmstate`), runDisk: join(vdir, f), bytes: bytes + state.bytes, usedMs: state.mtimeMs });
        else if (Date.now() - mtimeMs > ORPHAN_AGE_MS) await drop(join(vdir, f), bytes);
      }
    }
    let total = pairs.reduce((sum, p) => sum + p.bytes, 0);
    for (const p of pairs.sort((a, b) => a.usedMs - b.usedMs)) {
      if (total <= this.budgetBytes) break;
      if (p.state === keep) continue;
      await drop(p.state, 0);
      await drop(p.runDisk, p.bytes);
      total -= p.bytes;
      await rmdir(join(p.state, "..")).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOTEMPTY" && err.code !== "ENOENT") throw err; // not empty: the version has other snapshots
      });
    }
    return freed;
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
