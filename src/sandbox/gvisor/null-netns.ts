import { join } from "node:path";
import { isMountpoint, unmount } from "../oci/rootfs.js";

/**
 * Current runsc starts every gofer in one empty network namespace, which the first sandbox pins by a bind
 * mount at <state root>/null-netns (later gofers join it instead of making their own). Running gofers are
 * already inside it, so it can go at any time; the next sandbox pins a new one. Concurrent first starts may
 * stack several mounts there, hence the loop.
 */
export async function unmountNullNetns(stateRoot: string): Promise<void> {
  const file = join(stateRoot, "null-netns");
  while (await isMountpoint(file)) await unmount(file);
}
