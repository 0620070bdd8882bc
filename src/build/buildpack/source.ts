import { chmod, cp, lstat, mkdir, readdir, readFile, realpath } from "node:fs/promises";
import { basename, join, sep } from "node:path";
import { StrataError } from "../../errors.js";

/**
 * Copies an app's source tree to `dest` (e.g. a layer dir's `app/`), leaving out what the build
 * recreates or what must not ship (`exclude`: names matched at any depth), and makes everything
 * readable by the unprivileged runtime user while keeping owner-only write.
 */
export async function copySource(sourceDir: string, dest: string, exclude: readonly string[]): Promise<void> {
  await mkdir(dest, { recursive: true, mode: 0o755 });
  await cp(sourceDir, dest, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => src === sourceDir || !exclude.includes(basename(src)),
  });
  await makeWorldReadable(dest, exclude);
}

/**
 * a+r on files, a+rx on directories and on files executable by their owner: the app runs as nobody.
 * Skips `exclude`d names and leaves right modes alone: under an overlay, a chmod would copy a lower
 * layer's file up into the new layer.
 */
async function makeWorldReadable(dir: string, exclude: readonly string[]): Promise<void> {
  await widen(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (exclude.includes(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await makeWorldReadable(path, exclude);
    else if (entry.isFile()) {
      const mode = (await lstat(path)).mode;
      await widen(path, mode & 0o100 ? 0o555 : 0o444);
    }
  }
}

async function widen(path: string, bits: number): Promise<void> {
  const mode = (await lstat(path)).mode & 0o7777;
  if ((mode | bits) !== mode) await chmod(path, mode | bits);
}

export async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null; // optional file
    throw err;
  }
}

/**
 * Where `relPath` of the app's source really is, or null when absent. A path that resolves outside the
 * source (a symlink to a host file) fails the build: its content would be handed to the build's commands.
 */
export async function resolveInSource(sourceDir: string, relPath: string): Promise<string | null> {
  const root = await realpath(sourceDir);
  let real: string;
  try {
    real = await realpath(join(sourceDir, relPath));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null; // absent, or a dangling symlink: nothing to read
    throw err;
  }
  if (real !== root && !real.startsWith(root + sep)) {
    throw new StrataError("BUILD_FAILED", `${relPath} resolves outside the app's folder (${real}); the build reads only the app's own files`, { path: relPath });
  }
  return real;
}

/** A file of the app's source as text, or null when absent; refuses one outside the source (resolveInSource). */
export async function readSourceFile(sourceDir: string, relPath: string): Promise<string | null> {
  const real = await resolveInSource(sourceDir, relPath);
  return real === null ? null : readFile(real, "utf8");
}

export async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return null;
    throw err;
  })) !== null;
}
