import { open, rm } from "node:fs/promises";
import { StrataError } from "../../../errors.js";

/**
 * Firecracker writes a snapshot as two files (the microVM state, and guest memory); the snapshot store keeps
 * one file per snapshot. So the one file is the memory file with the state appended and a trailer saying
 * where: Firecracker maps guest memory from offset 0 of the file and accepts a file longer than the memory
 * (vstate/memory.rs snapshot_file refuses only a shorter one), so the same file is the restore's
 * mem_backend, and only the small state is copied out before the load.
 *
 *   [guest memory][microVM state][u64 LE: state length]["STRATAFC"]
 */
const MAGIC = Buffer.from("STRATAFC");
const TRAILER = 16;

/** Appends `stateFile` to `memFile` with the trailer, and removes `stateFile`. */
export async function packSnapshot(memFile: string, stateFile: string): Promise<void> {
  const mem = await open(memFile, "a");
  try {
    const state = await open(stateFile, "r");
    let length = 0;
    try {
      for await (const chunk of state.createReadStream({ autoClose: false })) {
        await mem.write(chunk as Buffer);
        length += (chunk as Buffer).length;
      }
    } finally {
      await state.close();
    }
    const trailer = Buffer.alloc(TRAILER);
    trailer.writeBigUInt64LE(BigInt(length), 0);
    MAGIC.copy(trailer, 8);
    await mem.write(trailer);
  } finally {
    await mem.close();
  }
  await rm(stateFile);
}

/** Writes the state part of a packed snapshot to `stateFile` (the memory part is used where it is). */
export async function unpackState(packed: string, stateFile: string): Promise<void> {
  const f = await open(packed, "r");
  try {
    const { size } = await f.stat();
    const trailer = Buffer.alloc(TRAILER);
    if (size < TRAILER || (await f.read(trailer, 0, TRAILER, size - TRAILER)).bytesRead !== TRAILER || !trailer.subarray(8).equals(MAGIC)) {
      throw new StrataError("INSTANCE_FAILED", `${packed} is not a Firecracker snapshot written by Strata (no trailer)`);
    }
    const length = Number(trailer.readBigUInt64LE(0));
    if (length > size - TRAILER) throw new StrataError("INSTANCE_FAILED", `${packed}: its trailer names a state longer than the file`);
    const state = Buffer.alloc(length);
    await f.read(state, 0, length, size - TRAILER - length);
    const out = await open(stateFile, "w", 0o600);
    try {
      await out.write(state);
    } finally {
      await out.close();
    }
  } finally {
    await f.close();
  }
}
