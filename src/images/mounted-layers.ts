import { readFile } from "node:fs/promises";
import { basename } from "node:path";

/**
 * The layers some overlay mount on this host uses right now, as sha256 hex digests. Every directory Strata
 * gives overlayfs as a lower dir is named after its layer (`unpacked/<hex>`, a shifted copy
 * `<hex>-<uid>-<size>`), and the kernel lists each overlay's lower dirs in /proc/self/mountinfo as they were
 * given (relative ones too, hence the base name), so this one file tells which layers running instances
 * and build steps stand on, whatever driver or process mounted them in this mount namespace.
 */
export async function mountedLayerDigests(mountinfo = "/proc/self/mountinfo"): Promise<Set<string>> {
  return layerDigestsOf(await readFile(mountinfo, "utf8"));
}

/** layerDigestsOf for the text of a mountinfo file. */
export function layerDigestsOf(mountinfo: string): Set<string> {
  const out = new Set<string>();
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const [fstype, , superOptions = ""] = line.slice(sep + 3).split(" ");
    if (fstype !== "overlay") continue;
    for (const option of superOptions.split(",")) {
      const eq = option.indexOf("=");
      const key = option.slice(0, eq);
      if (key !== "lowerdir" && key !== "lowerdir+" && key !== "datadir+") continue;
      for (const dir of unescape(option.slice(eq + 1)).split(/(?<!\\):/)) {
        const hex = /^[a-f0-9]{64}/.exec(basename(dir))?.[0];
        if (hex) out.add(hex);
      }
    }
  }
  return out;
}

/** mountinfo writes space, tab, newline, backslash (and, in options, comma and =) as \ooo octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}
