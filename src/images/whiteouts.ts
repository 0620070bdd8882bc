import { lstat, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { exec } from "../system/exec.js";

/**
 * The two spellings of "deleted in this layer": OCI layer tars use `.wh.<name>` files and a
 * `.wh..wh..opq` marker for opaque directories; overlayfs uses a 0/0 character device and the
 * `trusted.overlay.opaque=y` xattr. Layers are unpacked into overlayfs lower dirs and overlay upper dirs
 * become layers, so both directions are needed. xattrs go through getfattr/setfattr (Debian `attr`).
 */
const WH_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
const OPAQUE_XATTR = "trusted.overlay.opaque";

/** In an unpacked OCI layer dir: `.wh.x` -> char device 0/0 `x`; `.wh..wh..opq` -> opaque xattr on its dir. */
export async function ociToOverlayWhiteouts(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name === OPAQUE_MARKER) {
      await rm(path);
      await exec(["setfattr", "--name", OPAQUE_XATTR, "--value", "y", dir]);
    } else if (entry.name.startsWith(WH_PREFIX)) {
      await rm(path);
      const target = join(dir, entry.name.slice(WH_PREFIX.length));
      await rm(target, { recursive: true, force: true });
      await exec(["mknod", target, "c", "0", "0"]);
    } else if (entry.isDirectory()) {
      await ociToOverlayWhiteouts(path);
    }
  }
}

/** In an overlay upper dir (unmounted): char device 0/0 `x` -> `.wh.x`; opaque dir -> `.wh..wh..opq` inside it. */
export async function overlayToOciWhiteouts(dir: string): Promise<void> {
  const opaque = await opaqueDirs(dir);
  await convertUpper(dir);
  for (const d of opaque) {
    await exec(["setfattr", "--remove", OPAQUE_XATTR, d]);
    await writeFile(join(d, OPAQUE_MARKER), "");
  }
}

async function convertUpper(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isCharacterDevice() && (await lstat(path)).rdev === 0) {
      await rm(path);
      await writeFile(join(dir, WH_PREFIX + entry.name), "");
    } else if (entry.isDirectory()) {
      await convertUpper(path);
    }
  }
}

/** Directories under `root` (itself included) carrying trusted.overlay.opaque=y. */
async function opaqueDirs(root: string): Promise<string[]> {
  const named = await exec(["getfattr", "--recursive", "--physical", "--absolute-names", "--name", OPAQUE_XATTR, root], {
    okCodes: [0, 1], // 1: some files lack the attribute, which is the normal case
  });
  const dirs: string[] = [];
  let current: string | undefined;
  for (const line of named.stdout.split("\n")) {
    const file = /^# file: (.*)$/.exec(line);
    if (file) current = unescapeGetfattr(file[1]!);
    else if (current && line.startsWith(`${OPAQUE_XATTR}=`) && line.includes('"y"')) dirs.push(current);
  }
  return dirs;
}

/** getfattr prints unusual bytes in file names as backslash-octal escapes; turn them back into bytes. */
function unescapeGetfattr(name: string): string {
  const parts = name.split(/(\\[0-7]{3})/);
  const bytes = parts.map((p) => (/^\\[0-7]{3}$/.test(p) ? Buffer.from([Number.parseInt(p.slice(1), 8)]) : Buffer.from(p, "utf8")));
  return Buffer.concat(bytes).toString("utf8");
}
