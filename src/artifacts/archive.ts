import { createReadStream } from "node:fs";
import { lstat, mkdir, readdir, rm, stat } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import * as tar from "tar";
import { StrataError } from "../errors.js";
import { ArchiveChecker, describeType, refuse } from "./archive-check.js";
import { loadIgnore, type IgnoreMatcher } from "./ignore.js";

export interface ExtractLimits {
  /** Total bytes of the files once extracted (default 2 GiB). */
  maxBytes?: number;
  /** Entries of any kind (default 200,000). */
  maxEntries?: number;
}

const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;
const DEFAULT_MAX_ENTRIES = 200_000;
/** Disk failures are the host's fault, not the archive's. */
const HOST_ERRNOS = new Set(["ENOSPC", "EDQUOT", "EIO", "EMFILE", "ENFILE", "EROFS", "EACCES", "EPERM"]);

/**
 * Extracts a tar or tar.gz into `destDir` (which must not exist or be empty). Every entry is checked
 * first, in a separate pass that writes nothing; any refusal, limit or tar error leaves no `destDir`.
 */
export async function extractArchive(
  tarPath: string,
  destDir: string,
  opts: ExtractLimits = {},
): Promise<{ files: number; bytes: number }> {
  const checker = new ArchiveChecker({
    maxBytes: opts.maxBytes ?? DEFAULT_MAX_BYTES,
    maxEntries: opts.maxEntries ?? DEFAULT_MAX_ENTRIES,
  });
  await scanArchive(tarPath, checker);
  await prepareDest(destDir);
  try {
    await tar.x({
      file: tarPath,
      cwd: destDir,
      strict: true,
      // As root tar would chown to the archive's uids; the files belong to the platform instead.
      preserveOwner: false,
      filter: (_path, entry) => {
        // setuid/setgid/sticky bits from an upload never reach disk; the platform can always read what it wrote.
        if (entry instanceof tar.ReadEntry && typeof entry.mode === "number") {
          entry.mode = (entry.mode & 0o777) | (entry.type === "Directory" ? 0o700 : 0o600);
        }
        return true;
      },
    });
  } catch (err) {
    await rm(destDir, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code && HOST_ERRNOS.has(code)) {
      throw new StrataError("INTERNAL", `extracting the archive failed on this host: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
    throw new StrataError("INVALID_ARCHIVE", `the archive could not be extracted: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  return { files: checker.files, bytes: checker.bytes };
}

/** Reads every header without writing anything, feeding each to the checker. */
function scanArchive(tarPath: string, checker: ArchiveChecker): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    let failed = false;
    const source = createReadStream(tarPath);
    const parser = new tar.Parser({ strict: true });
    const fail = (err: StrataError): void => {
      if (failed) return;
      failed = true;
      source.destroy();
      reject(err);
    };
    parser.on("entry", (entry: tar.ReadEntry) => {
      entry.resume();
      if (failed) return;
      try {
        checker.add({ path: entry.path, type: entry.type, size: entry.size, linkpath: entry.linkpath });
      } catch (err) {
        fail(err as StrataError);
      }
    });
    // tar skips what it cannot extract (devices, fifos, unknown types); each is a refusal here.
    parser.on("ignoredEntry", (entry: tar.ReadEntry) => {
      fail(refuse(entry.path, entry.meta ? "its metadata header is too large" : `it is ${describeType(entry.type)}`));
    });
    parser.on("error", (err: Error) => {
      fail(new StrataError("INVALID_ARCHIVE", `the archive is not a valid tar(.gz): ${err.message}`, { reason: err.message }));
    });
    parser.on("end", () => {
      if (failed) return;
      try {
        checker.finish();
        resolvePromise();
      } catch (err) {
        fail(err as StrataError);
      }
    });
    source.on("error", (err) => {
      failed = true;
      reject(err);
    });
    source.pipe(parser);
  });
}

async function prepareDest(destDir: string): Promise<void> {
  try {
    const entries = await readdir(destDir);
    if (entries.length > 0) {
      throw new StrataError("INVALID_ARGUMENT", `cannot extract into ${destDir}: it is not empty`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    await mkdir(destDir, { recursive: true });
  }
}

/**
 * Writes a gzipped tar of `dir` to `outPath`. `ignore` decides what is left out (default: the folder's
 * .stratignore, else .gcloudignore, plus VCS folders); an ignored folder is not descended into.
 */
export async function createArchive(
  dir: string,
  outPath: string,
  ignore?: IgnoreMatcher,
): Promise<{ files: number; size: number }> {
  const root = resolve(dir);
  const matcher = ignore ?? (await loadIgnore(root));
  const outRel = relative(root, resolve(outPath)).split(sep).join("/");
  const paths: string[] = [];
  let files = 0;
  const walk = async (relDir: string): Promise<void> => {
    const names = (await readdir(join(root, relDir))).sort();
    for (const name of names) {
      const rel = relDir === "" ? name : `${relDir}/${name}`;
      if (rel === outRel) continue;
      const st = await lstat(join(root, rel));
      const isDir = st.isDirectory();
      if (matcher(rel, isDir)) continue;
      paths.push(rel);
      if (isDir) await walk(rel);
      else files++;
    }
  };
  await walk("");
  await tar.c({ gzip: true, file: outPath, cwd: root, portable: true, noDirRecurse: true, strict: true }, paths);
  return { files, size: (await stat(outPath)).size };
}
