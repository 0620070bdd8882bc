import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { StrataError } from "../errors.js";
import { withFileLock } from "../system/file-lock.js";
import { contains, intToIp, ipToInt, type Subnet } from "./subnet.js";

interface LeaseFile {
  subnet: string;
  /** Where the next search starts: addresses are handed out round-robin so a just-freed address (still in
   * some neighbour cache with the old veth's MAC) is the last to be reused. */
  next: number;
  leases: Record<string, string>;
}

/**
 * Instance addresses, persisted in one JSON file so they survive a daemon restart. Every change happens
 * under a lock file (several HostNetwork objects, even in several processes, may share a STRATA_HOME) and
 * is written by rename, so a crash never leaves a half-written lease file.
 */
export class IpAllocator {
  private readonly file: string;
  /** Serialises this object's changes so they never wait on each other's lock file (it polls slowly). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    dir: string,
    private readonly subnet: Subnet,
  ) {
    this.file = join(dir, "leases.json");
  }

  /** The address leased to `instanceId`, leasing a free one first if it has none. */
  async lease(instanceId: string): Promise<string> {
    return this.change((state) => {
      const held = state.leases[instanceId];
      if (held) return held;
      const used = new Set(Object.values(state.leases).map(ipToInt));
      const count = this.subnet.last - this.subnet.first + 1;
      for (let i = 0; i < count; i++) {
        const candidate = this.subnet.first + ((state.next - this.subnet.first + i) % count);
        if (used.has(candidate)) continue;
        state.leases[instanceId] = intToIp(candidate);
        state.next = candidate + 1 > this.subnet.last ? this.subnet.first : candidate + 1;
        return intToIp(candidate);
      }
      throw new StrataError("DRIVER_FAILED", `no free address left in ${this.subnet.cidr} (${count} instances hold one)`, {
        subnet: this.subnet.cidr,
      });
    });
  }

  /** Moves the address leased to `from` (a spare) to `to`, which must hold none; returns it. */
  async rekey(from: string, to: string): Promise<string> {
    return this.change((state) => {
      const address = state.leases[from];
      if (!address) throw new StrataError("DRIVER_FAILED", `no address is leased to ${from}`);
      if (state.leases[to]) throw new StrataError("DRIVER_FAILED", `${to} already holds address ${state.leases[to]}`);
      delete state.leases[from];
      state.leases[to] = address;
      return address;
    });
  }

  async release(instanceId: string): Promise<void> {
    await this.change((state) => {
      delete state.leases[instanceId];
    });
  }

  async leases(): Promise<Record<string, string>> {
    return (await this.read()).leases;
  }

  private async change<T>(fn: (state: LeaseFile) => T): Promise<T> {
    const run = this.queue.then(() => this.changeLocked(fn));
    this.queue = run.catch(() => undefined); // a failed change must not wedge later ones; `run` still rejects
    return run;
  }

  private async changeLocked<T>(fn: (state: LeaseFile) => T): Promise<T> {
    await mkdir(dirname(this.file), { recursive: true });
    return withFileLock(`${this.file}.lock`, async () => {
      const state = await this.read();
      const result = fn(state);
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(state, null, 2));
      await rename(tmp, this.file);
      return result;
    });
  }

  private async read(): Promise<LeaseFile> {
    const raw = await readFile(this.file, "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
    const fresh: LeaseFile = { subnet: this.subnet.cidr, next: this.subnet.first, leases: {} };
    if (raw === null) return fresh;
    const state = JSON.parse(raw) as LeaseFile;
    // Leases outside the configured subnet (it was changed) cannot be honoured; those instances get new
    // addresses when they are next attached.
    for (const [id, ip] of Object.entries(state.leases)) if (!contains(this.subnet, ip)) delete state.leases[id];
    if (state.subnet !== this.subnet.cidr || !(state.next >= this.subnet.first && state.next <= this.subnet.last)) {
      state.next = this.subnet.first;
    }
    state.subnet = this.subnet.cidr;
    return state;
  }
}
