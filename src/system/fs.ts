import { stat, utimes } from "node:fs/promises";

/** Whether `path` exists (following symlinks); any error but "no such file" is thrown. */
export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return false;
      throw err;
    },
  );
}

/** A rejection handler for fs promises: "no such file" becomes `fallback`, anything else is rethrown. */
export function ignoreMissing<T>(fallback: T): (err: NodeJS.ErrnoException) => T {
  return (err) => {
    if (err.code === "ENOENT") return fallback;
    throw err;
  };
}

/**
 * Sets the modification time of `path` (a file or directory) to now, so a collector that spares what
 * changed recently spares it too; false when it does not exist.
 */
export async function touchIfPresent(path: string): Promise<boolean> {
  const now = new Date();
  return utimes(path, now, now).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return false;
      throw err;
    },
  );
}
