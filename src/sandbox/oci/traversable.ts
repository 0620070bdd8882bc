import { stat } from "node:fs/promises";
import { join } from "node:path";
import { ignoreMissing } from "../../system/fs.js";

/**
 * The first directory above `dir` that others cannot traverse (no o+x), if any. An instance's root in a
 * user namespace resolves its rootfs path itself, so every directory from STRATA_HOME up must let it pass.
 */
export async function untraversableAbove(dir: string): Promise<string | null> {
  let d = dir;
  for (;;) {
    const parent = join(d, "..");
    if (parent === d) return null;
    d = parent;
    const st = await stat(d).catch(ignoreMissing(null));
    if (st && !(st.mode & 0o001)) return d;
  }
}
