import { chmod, copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Layer, OciLayout } from "../../images/index.js";
import type { BuildStep } from "./step.js";

/**
 * The shared libraries a compiled binary loads, found the way the dynamic loader finds them: `ldd` in the
 * image it was built in, each path resolved there (`readlink -f`, inside the container, so absolute
 * symlinks resolve in the image and not on the host). A static binary has none.
 */
export interface SharedLibrary {
  /** The path the loader asks for (/lib64/ld-linux-x86-64.so.2, /lib/x86_64-linux-gnu/libc.so.6). */
  path: string;
  /** The file it is, in the build image. */
  real: string;
}

const LDD_SCRIPT = `ldd "$1" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if (substr($i, 1, 1) == "/") print $i }' | while read -r p; do echo "$p $(readlink -f "$p")"; done`;

export async function sharedLibraries(step: BuildStep, binaryInImage: string): Promise<SharedLibrary[]> {
  const { stdout } = await step.run({ argv: ["/bin/sh", "-c", LDD_SCRIPT, "ldd", binaryInImage], cwd: "/" }, { quiet: true });
  return parseLibraries(stdout);
}

export function parseLibraries(text: string): SharedLibrary[] {
  const out: SharedLibrary[] = [];
  for (const line of text.split("\n")) {
    const [path, real] = line.trim().split(" ");
    if (path?.startsWith("/") && real?.startsWith("/") && !out.some((l) => l.path === path)) out.push({ path, real });
  }
  return out;
}

/** /lib/x → /usr/lib/x: the run image has Debian's merged /usr, so the loader's paths reach /usr through symlinks. */
export function underUsr(path: string): string {
  return /^\/(lib|lib64|bin|sbin)\//.test(path) ? `/usr${path}` : path;
}

const PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n";
const GROUP = "root:x:0:\nnogroup:x:65534:\n";
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

export interface NativeRunLayer {
  /** Host path of the binary, and where it goes in the image (/app/server). */
  binary: { from: string; to: string };
  /** The build step's root filesystem (mounted), which the libraries and CA bundle are copied from. */
  rootfs: string;
  libraries: readonly SharedLibrary[];
}

/**
 * The one layer of a minimal run image for a compiled binary: the binary, the shared libraries it loads
 * (and the loader), the CA bundle for outbound TLS, passwd/group naming nobody, /tmp, and merged-/usr
 * symlinks so the loader's /lib and /lib64 paths resolve. No shell, no package manager.
 */
export async function nativeRunLayer(layout: OciLayout, staging: string, what: NativeRunLayer): Promise<Layer> {
  for (const d of ["app", "etc/ssl/certs", "tmp", "usr/lib", "usr/lib64", "usr/bin"]) await mkdir(join(staging, d), { recursive: true, mode: 0o755 });
  await chmod(join(staging, "tmp"), 0o1777);
  for (const link of ["lib", "lib64", "bin"]) await symlink(`usr/${link}`, join(staging, link));
  for (const lib of what.libraries) {
    const target = join(staging, underUsr(lib.path));
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await copyFile(join(what.rootfs, lib.real), target);
    await chmod(target, 0o755);
  }
  await copyFile(what.binary.from, join(staging, what.binary.to));
  await chmod(join(staging, what.binary.to), 0o755);
  await copyFile(join(what.rootfs, CA_BUNDLE), join(staging, CA_BUNDLE));
  await chmod(join(staging, CA_BUNDLE), 0o644);
  await writeFile(join(staging, "etc/passwd"), PASSWD, { mode: 0o644 });
  await writeFile(join(staging, "etc/group"), GROUP, { mode: 0o644 });
  return await layout.addLayerFromDir(staging);
}
