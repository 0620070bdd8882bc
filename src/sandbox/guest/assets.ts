import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, realpath, rename, writeFile } from "node:fs/promises";
import { basename, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { StrataError } from "../../errors.js";
import { exec, which } from "../../system/exec.js";
import { pathExists } from "../../system/fs.js";
import { withFileLock } from "../../system/file-lock.js";
import { cpioNewc } from "./cpio.js";

/** Where scripts/guest-kernel.sh installs the guest kernel it builds (`current` links the release in use). */
export const GUEST_KERNEL_DIR = "/usr/local/lib/strata/guest/current";
/** Host-wide cache of what is built from sources and packages (init binary, initramfs), keyed by content. */
export const GUEST_CACHE_DIR = "/var/cache/strata/guest";

/** Guest RAM on top of the app's memory: the kernel, the initramfs and the tmpfs root's metadata. */
export const GUEST_OVERHEAD_MB = 96;

export interface GuestKernel {
  readonly release: string;
  readonly vmlinux: string;
}

export interface GuestAssets {
  readonly kernel: GuestKernel;
  /**
   * An uncompressed newc initramfs: Strata's init and the directories it mounts on. Nothing else: the kernel
   * unpacks it under TCG at ~30 MB/s, the guest's drivers are built into the kernel, and the init needs no
   * other program.
   */
  readonly initramfs: string;
}

/** The unpacked guest kernel, or a typed error saying how to get it. */
export async function guestKernel(dir = GUEST_KERNEL_DIR): Promise<GuestKernel> {
  const vmlinux = join(dir, "vmlinux");
  if (!(await pathExists(vmlinux))) {
    throw new StrataError("SANDBOX_UNAVAILABLE", `no guest kernel at ${dir} (run scripts/setup-host.sh, which builds it from Debian's linux-source-6.1 there)`);
  }
  return { release: (await realpath(dir)).replace(/^.*\//, ""), vmlinux };
}

/** The Go sources of the guest init (beside this file in src/, also when running from dist/). */
function initSourceDir(): string {
  return fileURLToPath(new URL("./init/", import.meta.url)).replace(`${sep}dist${sep}`, `${sep}src${sep}`);
}

async function sourceHash(dir: string): Promise<string> {
  const h = createHash("sha256");
  for (const f of (await readdir(dir)).filter((n) => n.endsWith(".go") || n === "go.mod").sort()) {
    h.update(f).update("\0").update(await readFile(join(dir, f))).update("\0");
  }
  return h.digest("hex").slice(0, 16);
}

/** Builds the static init binary once per source content (about 10 s on 2 cores), reporting progress. */
export async function guestInitBinary(onProgress?: (line: string) => void, cacheDir = GUEST_CACHE_DIR): Promise<string> {
  const src = initSourceDir();
  const out = join(cacheDir, `init-${await sourceHash(src)}`);
  if (await pathExists(out)) return out;
  await mkdir(cacheDir, { recursive: true });
  return withFileLock(`${out}.lock`, async () => {
    if (await pathExists(out)) return out;
    const go = (await which("go")) ?? ((await pathExists("/usr/local/go/bin/go")) ? "/usr/local/go/bin/go" : null);
    if (!go) throw new StrataError("SANDBOX_UNAVAILABLE", "building the guest init needs Go (run scripts/setup-host.sh)");
    onProgress?.(`building the guest init (Go, static) from ${src}`);
    const tmp = `${out}.tmp-${process.pid}`;
    await exec([go, "build", "-trimpath", "-ldflags", "-s -w", "-o", tmp, "."], {
      cwd: src,
      env: { ...process.env, CGO_ENABLED: "0", GOOS: "linux", GOARCH: "amd64", GOFLAGS: "-mod=mod", GOCACHE: join(cacheDir, "gocache") },
      timeoutMs: 300_000,
    });
    await rename(tmp, out);
    return out;
  });
}

/** The kernel and the initramfs: the initramfs is cached per init binary, built at first use. */
export async function guestAssets(onProgress?: (line: string) => void, kernelDir = GUEST_KERNEL_DIR, cacheDir = GUEST_CACHE_DIR): Promise<GuestAssets> {
  const kernel = await guestKernel(kernelDir);
  const init = await guestInitBinary(onProgress, cacheDir);
  const out = join(cacheDir, `initramfs-${basename(init)}.cpio`);
  if (await pathExists(out)) return { kernel, initramfs: out };
  return withFileLock(`${out}.lock`, async () => {
    if (await pathExists(out)) return { kernel, initramfs: out };
    onProgress?.("making the guest initramfs");
    const initramfs = cpioNewc([
      { name: "dev", mode: 0o040755 },
      { name: "proc", mode: 0o040755 },
      { name: "sys", mode: 0o040755 },
      { name: "mnt", mode: 0o040755 },
      { name: "init", mode: 0o100755, data: await readFile(init) },
    ]);
    const tmp = `${out}.tmp-${process.pid}`;
    await writeFile(tmp, initramfs);
    await rename(tmp, out);
    return { kernel, initramfs: out };
  });
}
