import { lstat, mkdir, readdir, readFile, rm, writeFile, appendFile } from "node:fs/promises";
import { join } from "node:path";
import { exec } from "../system/exec.js";
import { sourcesForSuite, type HostAptConfig } from "./host-apt.js";
import { lineSplitter } from "./progress.js";
import type { DebianRecipe } from "./recipes.js";

/**
 * Builds a base image's root filesystem from Debian packages with mmdebstrap (variant minbase), then makes
 * it fit for containers: no device nodes (runtimes provide /dev), no apt lists or caches, no host
 * resolv.conf/hostname, a `nobody` user, an `/app` working directory.
 */

/** Docs, man pages and translations are dropped at unpack time (copyright files stay), as slim images do. */
const DPKG_EXCLUDES = [
  "path-exclude=/usr/share/man/*",
  "path-exclude=/usr/share/doc/*",
  "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/locale/*",
  "path-exclude=/usr/share/info/*",
];

/** Shipped with mmdebstrap (Debian 12: 1.3.5). */
export const MERGED_USR_HOOK = "/usr/share/mmdebstrap/hooks/merged-usr";

export function mmdebstrapArgv(recipe: DebianRecipe, apt: HostAptConfig, rootfsDir: string, sourceFiles: readonly string[] = apt.sourceFiles): string[] {
  return [
    // A private mount namespace: the /proc, /sys and /dev mounts mmdebstrap makes in the chroot vanish with
    // it even if it is killed, instead of lingering in the host's mount table.
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "mmdebstrap",
    "--mode=root",
    "--format=directory",
    "--variant=minbase",
    // Set up merged /usr with the hook instead of the `usrmerge` package, which drags in full perl
    // (about 50 MB in every image).
    `--hook-dir=${MERGED_USR_HOOK}`,
    // With man pages excluded, the JDK's and JRE's postinst (update-alternatives of java.1.gz) still needs
    // the folder, as Docker's slim Java images know.
    '--setup-hook=mkdir -p "$1/usr/share/man/man1"',
    ...(recipe.packages.length ? [`--include=${recipe.packages.join(",")}`] : []),
    ...apt.aptOptionFiles.map((f) => `--aptopt=${f}`),
    ...DPKG_EXCLUDES.map((o) => `--dpkgopt=${o}`),
    recipe.suite,
    rootfsDir,
    // No sources file on the host: mmdebstrap falls back to its default Debian mirror.
    ...sourceFiles,
  ];
}

export async function bootstrapRootfs(
  recipe: DebianRecipe,
  apt: HostAptConfig,
  rootfsDir: string,
  onProgress: (line: string) => void,
): Promise<void> {
  // The host's mirrors, for the recipe's suite; beside the rootfs so that the build's clean-up takes them.
  const sourcesDir = `${rootfsDir}.sources`;
  try {
    const argv = mmdebstrapArgv(recipe, apt, rootfsDir, await sourcesForSuite(apt, recipe.suite, sourcesDir));
    onProgress(`$ ${argv.join(" ")}`);
    const lines = lineSplitter(onProgress);
    await exec(argv, { onOutput: (chunk) => lines.write(chunk), timeoutMs: 30 * 60_000 });
    lines.flush();
  } finally {
    await rm(sourcesDir, { recursive: true, force: true });
  }
  await sanitizeRootfs(rootfsDir);
}

export async function sanitizeRootfs(root: string): Promise<void> {
  await emptyDir(join(root, "dev"));
  await removeDeviceNodes(root);
  await emptyDir(join(root, "var/lib/apt/lists"), ["partial"]);
  await emptyDir(join(root, "var/cache/apt"), ["archives"]);
  await emptyDir(join(root, "var/cache/apt/archives"), ["partial"]);
  await emptyDir(join(root, "var/log/apt"));
  await rm(join(root, "var/log/dpkg.log"), { force: true });
  // Runtimes bind-mount their own; an empty file is the mount point.
  await writeFile(join(root, "etc/resolv.conf"), "");
  await writeFile(join(root, "etc/hostname"), "");
  await ensureLine(join(root, "etc/passwd"), /^nobody:/m, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  await ensureLine(join(root, "etc/group"), /^nogroup:/m, "nogroup:x:65534:\n");
  await mkdir(join(root, "app"), { recursive: true, mode: 0o755 });
}

/** Package=version of what the image carries, read from its dpkg database (for the image's labels). */
export async function packageVersions(root: string, packages: readonly string[]): Promise<string> {
  if (!packages.length) return "";
  const { stdout } = await exec([
    "dpkg-query",
    `--admindir=${join(root, "var/lib/dpkg")}`,
    "--show",
    "--showformat=${Package}=${Version}\\n",
    ...packages,
  ]);
  return stdout.trim().split("\n").join(" ");
}

/** The dpkg version of one package installed in the rootfs. */
export async function packageVersion(root: string, pkg: string): Promise<string> {
  const { stdout } = await exec(["dpkg-query", `--admindir=${join(root, "var/lib/dpkg")}`, "--show", "--showformat=${Version}", pkg]);
  return stdout.trim();
}

async function emptyDir(dir: string, keep: readonly string[] = []): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // nothing to empty
    throw err;
  }
  for (const name of names) if (!keep.includes(name)) await rm(join(dir, name), { recursive: true, force: true });
}

async function removeDeviceNodes(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isCharacterDevice() || entry.isBlockDevice()) await rm(path, { force: true });
    else if (entry.isDirectory() && !(await lstat(path)).isSymbolicLink()) await removeDeviceNodes(path);
  }
}

async function ensureLine(file: string, present: RegExp, line: string): Promise<void> {
  const text = await readFile(file, "utf8");
  if (!present.test(text)) await appendFile(file, text.endsWith("\n") || !text ? line : `\n${line}`);
}
