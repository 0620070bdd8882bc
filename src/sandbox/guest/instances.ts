import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { ignoreMissing, pathExists } from "../../system/fs.js";
import { SingleFlight } from "../../system/single-flight.js";
import type { Endpoint, Instance, InstanceHandle, InstanceIO, InstanceState } from "../driver.js";
import { GuestLogFollower, lastGuestExit, type GuestExit } from "./guest-log.js";

/** The files of an instance's directory the bookkeeping reads: the guest's event file and the follower's offset. */
export interface GuestEventFiles {
  readonly log: string;
  readonly offset: string;
}

type RunningStats = Omit<Extract<InstanceState, { status: "running" }>, "status">;

/**
 * The per-instance bookkeeping every VM-class driver keeps, whatever runs its guest (a QEMU process, a Xen
 * domain): a directory under the driver's runtime directory, the follower of the guest's event file (its
 * log lines and exit), the stop under way, and a clean-up that removes all of it. A driver composes one
 * and adds what its VMM needs (a pid, a QMP watch, a domain name).
 */
export class GuestInstances {
  /** The stop under way for each instance: an exit the guest reports meanwhile is the stop's, not pushed. */
  readonly stopping = new SingleFlight<void>();
  private readonly followers = new Map<string, GuestLogFollower>();

  /** `root`: the driver's runtime directory; instances live in its `instances/`. */
  constructor(
    readonly root: string,
    private readonly files: GuestEventFiles,
  ) {}

  dir(id: string): string {
    return join(this.root, "instances", id);
  }

  /** The ids of the instance directories there are (a crashed daemon's too). */
  async ids(): Promise<string[]> {
    const entries = await readdir(join(this.root, "instances"), { withFileTypes: true }).catch(ignoreMissing([]));
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  /** The guest's exit, read from the end of its event file (also when no follower runs in this process). */
  exitRecord(id: string): Promise<GuestExit | undefined> {
    return lastGuestExit(join(this.dir(id), this.files.log));
  }

  /** Follows the guest's event file: its lines go to `io`, its exit too unless a stop is under way. */
  async follow(id: string, io: InstanceIO): Promise<void> {
    const dir = this.dir(id);
    const follower = new GuestLogFollower(join(dir, this.files.log), join(dir, this.files.offset), (e) => {
      if (e.t === "log") io.log(e.s, e.l);
      else if (e.t === "exit") this.onExit(id, e, io);
    });
    this.followers.set(id, follower);
    await follower.start();
  }

  private onExit(id: string, e: GuestExit, io: InstanceIO): void {
    if (e.error) io.log("stderr", `strata guest: ${e.error}`);
    if (this.stopping.has(id)) return;
    io.exited?.({ status: "exited", code: e.code, reason: e.reason });
  }

  /**
   * The instance's state from whether its VMM (or domain) is alive and the guest's exit record. Liveness is
   * asked first: a guest that reports its exit and ends between the two reads is then still seen exited.
   */
  async state(id: string, alive: () => Promise<boolean>, stats: () => Promise<RunningStats> = async () => ({})): Promise<InstanceState> {
    const running = await alive();
    const exit = await this.exitRecord(id);
    if (running && !exit) return { status: "running", ...(await stats()) };
    if (exit) return { status: "exited", code: exit.code, reason: exit.reason };
    if (await pathExists(this.dir(id))) return { status: "exited", code: -1, reason: "killed" }; // the VMM died without a word from the guest
    return { status: "gone" };
  }

  /** Cleans up every instance in `ids` or with a directory here that `keep` does not name. */
  async sweep(keep: ReadonlySet<string>, ids: readonly string[], cleanup: (id: string) => Promise<void>): Promise<void> {
    for (const id of new Set([...ids, ...(await this.ids())])) if (!keep.has(id)) await cleanup(id);
  }

  /**
   * Everything an instance made: its follower stopped (it reads the last lines), then `steps` in order (the
   * VMM, its cgroup, the network), each tolerating its absence. The directory goes only when all of them
   * succeeded, so that the next sweep retries the rest; the first failure is thrown at the end.
   */
  async cleanup(id: string, steps: ReadonlyArray<() => Promise<unknown>>): Promise<void> {
    const failures: unknown[] = [];
    const step = async (run: () => Promise<unknown>) => {
      await run().catch((err: unknown) => void failures.push(err));
    };
    const follower = this.followers.get(id);
    this.followers.delete(id);
    await step(async () => follower?.stop());
    for (const run of steps) await step(run);
    if (failures.length === 0) await step(() => rm(this.dir(id), { recursive: true, force: true }));
    if (failures.length) throw failures[0];
  }

  /** Stops following every instance (their guests run on; a restarted daemon follows them again). */
  async close(): Promise<void> {
    for (const f of this.followers.values()) await f.stop();
    this.followers.clear();
  }
}

/** The Instance a VM-class driver returns from start() and recover(): its guest's address, its handle. */
export function guestInstance(handle: InstanceHandle, endpoint: Endpoint, detail: string): Instance {
  return { id: handle.id, driver: handle.driver, endpoint, handle, detail };
}
