import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, realpath, rename, writeFile } from "node:fs/promises";
import { join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { StrataError } from "../../errors.js";
import { exec, which } from "../../system/exec.js";
import { pathExists } from "../../system/fs.js";
import { withFileLock } from "../../system/file-lock.js";
import { cpioNewc, type CpioEntry } from "./cpio.js";
import { moduleClosure } from "./modinfo.js";
import { withoutModuleSignature } from "./module-signature.js";

/** Where scripts/guest-kernel.sh unpacks Debian's cloud kernel (`current` links the release in use). */
export const GUEST_KERNEL_DIR = "/usr/local/lib/strata/guest/current";
/** Host-wide cache of what is built from sources and packages (init binary, initramfs), keyed by content. */
export const GUEST_CACHE_DIR = "/var/cache/strata/guest";

/**
 * Modules the guest needs that Debian's cloud kernel builds as modules: the virtio-mmio transport (QEMU
 * microvm, Firecracker), console (virtio-serial ports), block (root and run disks), net, overlay (the
 * writable root). The init loads them in this order: the console's ports are named to the guest by
 * messages from the VMM after its probe, and they arrive while the others load rather than while the init
 * waits for them.
 */
export const GUEST_MODULES = ["virtio_mmio", "virtio_console", "virtio_blk", "virtio_net", "overlay"] as const;

/** Guest RAM on top of the app's memory: the kernel, the initramfs and the tmpfs root's metadata. */
export const GUEST_OVERHEAD_MB = 96;

export interface GuestKernel {
  readonly release: string;
  readonly vmlinux: string;
  readonly modulesDir: string;
}

export interface GuestAssets {
  readonly kernel: GuestKernel;
  /**
   * An uncompressed newc initramfs: Strata's init, the modules and their load order. Nothing else: the kernel
   * unpacks it under TCG at ~30 MB/s, and the init needs no other program (busybox, once there for arping, was 2 of its 9.4 MB).
   */
  readonly initramfs: string;
}

/** The unpacked guest kernel, or a typed error saying how to get it. */
export async function guestKernel(dir = GUEST_KERNEL_DIR): Promise<GuestKernel> {
  const vmlinux = join(dir, "vmlinux");
  const modulesDir = join(dir, "modules");
  if (!(await pathExists(vmlinux)) || !(await pathExists(modulesDir))) {
    throw new StrataError("SANDBOX_UNAVAILABLE", `no guest kernel at ${dir} (run scripts/setup-host.sh, which unpacks Debian's linux-image-cloud-amd64 there)`);
  }
  return { release: (await realpath(dir)).replace(/^.*\//, ""), vmlinux, modulesDir };
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

/**
 * The kernel and an initramfs for it: cached per (init, kernel release, module list) content, built
 * at first use. The initramfs carries /init, /modules/*.ko and /modules/order. `modules` is
 * what the driver's machine needs (a PCI machine adds its transport to GUEST_MODULES).
 */
export async function guestAssets(
  onProgress?: (line: string) => void,
  kernelDir = GUEST_KERNEL_DIR,
  cacheDir = GUEST_CACHE_DIR,
  modules: readonly string[] = GUEST_MODULES,
): Promise<GuestAssets> {
  const kernel = await guestKernel(kernelDir);
  const init = await guestInitBinary(onProgress, cacheDir);
  const key = createHash("sha256")
    .update(`${init}\0${kernel.release}\0${modules.join(",")}\0unsigned-modules`)
    .digest("hex")
    .slice(0, 16);
  const out = join(cacheDir, `initramfs-${key}.cpio`);
  if (await pathExists(out)) return { kernel, initramfs: out };
  return withFileLock(`${out}.lock`, async () => {
    if (await pathExists(out)) return { kernel, initramfs: out };
    onProgress?.(`making the guest initramfs for kernel ${kernel.release}`);
    const closure = await moduleClosure(kernel.modulesDir, modules);
    const entries: CpioEntry[] = [
      { name: "dev", mode: 0o040755 },
      { name: "proc", mode: 0o040755 },
      { name: "sys", mode: 0o040755 },
      { name: "mnt", mode: 0o040755 },
      { name: "modules", mode: 0o040755 },
      { name: "init", mode: 0o100755, data: await readFile(init) },
      { name: "modules/order", mode: 0o100644, data: Buffer.from(closure.map((m) => m.replace(/^.*\//, "")).join("\n") + "\n") },
    ];
    for (const m of closure) entries.push({ name: `modules/${m.replace(/^.*\//, "")}`, mode: 0o100644, data: withoutModuleSignature(await readFile(join(kernel.modulesDir, m))) });
    const tmp = `${out}.tmp-${process.pid}`;
    await writeFile(tmp, cpioNewc(entries));
    await rename(tmp, out);
    return { kernel, initramfs: out };
  });
}
