import { writeFile } from "node:fs/promises";
import { StrataError } from "../../errors.js";
import type { ProcessPlan } from "../oci/bundle.js";

/** The guest's network: its address on the Strata bridge, the gateway, and a MAC derived from the address. */
export interface GuestNet {
  readonly address: string;
  readonly prefix: number;
  readonly gateway: string;
  readonly mac: string;
}

/** What the guest init runs: the image's process as a container's, and the guest's own (init/runfile.go reads the same fields). */
export interface RunFile extends ProcessPlan {
  readonly hostname: string;
  /** The app's memory cap inside the guest (cgroup v2 memory.max); the guest's RAM adds the kernel's share. */
  readonly memoryMb: number;
  readonly net: GuestNet;
  /** Where the init mounts the writable data disk (the third disk, vdc), when the VM has one. */
  readonly dataMount?: string;
  /** A function instance: the init serves Lambda's Runtime API at `listen` and relays it to `upstream` (init/runtime_relay.go). */
  readonly runtimeApi?: { readonly listen: string; readonly upstream: string };
}

const SECTOR = 512;
const MAX_BYTES = 1 << 20;

/**
 * Writes the run file as a raw disk: the JSON, padded with NUL bytes to whole sectors (a block device's
 * size). No file system: the init reads the device and stops at the first NUL.
 */
export async function writeRunDisk(path: string, run: RunFile): Promise<void> {
  await writeJsonDisk(path, run);
}

/** Any JSON document as a run disk, in the same format (the kata driver's container request). */
export async function writeJsonDisk(path: string, value: unknown): Promise<void> {
  const json = Buffer.from(JSON.stringify(value));
  if (json.length >= MAX_BYTES) throw new StrataError("INVALID_CONFIG", `the instance's command and environment take ${json.length} bytes; at most ${MAX_BYTES - 1} fit`);
  const size = Math.ceil((json.length + 1) / SECTOR) * SECTOR;
  const buf = Buffer.alloc(size);
  json.copy(buf);
  await writeFile(path, buf, { mode: 0o600 });
}

