import { lstat, readdir, realpath, stat } from "node:fs/promises";
import { join, sep } from "node:path";
import mime from "mime";
import { type BlobStore, etagFor, type StaticFile, type StaticTree } from "../../artifacts/index.js";
import { isCompressible, MIN_PRECOMPRESS_BYTES, precompress } from "./precompress.js";

/** Files at the upload root that configure the deployment and are never served. */
export const NOT_SERVED = new Set(["app.yaml", "app.yml", ".stratignore", ".gcloudignore"]);
/** Files stored and compressed at once; enough to overlap disk and zlib work on a small host. */
const CONCURRENCY = 4;

export interface StaticTreeResult {
  /** The manifest blob (a StaticTree as JSON). */
  treeDigest: string;
  files: number;
  bytes: number;
}

/**
 * Stores every servable file of an extracted upload as a blob, with gzip/brotli copies of text files,
 * and stores the manifest; the same content in another version or app costs nothing more.
 */
export async function buildStaticTree(
  dir: string,
  blobs: BlobStore,
  onProgress?: (line: string) => void,
): Promise<StaticTreeResult> {
  const root = await realpath(dir);
  const paths = await listFiles(root, onProgress);
  onProgress?.(`static: storing ${paths.length} files`);

  const entries: Array<[string, StaticFile]> = new Array(paths.length);
  let bytes = 0;
  let compressed = 0;
  let reused = 0;
  let next = 0;
  // Two files with the same content in one upload share one compression.
  const compressions = new Map<string, ReturnType<typeof precompress>>();
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const index = next++;
      const rel = paths[index]!;
      const path = join(root, rel);
      const { digest, size } = await blobs.putFile(path);
      const type = mime.getType(rel) ?? "application/octet-stream";
      const file: StaticFile = { digest, size, mime: type, etag: etagFor(digest) };
      // Files too small to gain from compression are served as they are (see MIN_PRECOMPRESS_BYTES).
      if (size >= MIN_PRECOMPRESS_BYTES && isCompressible(type)) {
        let pending = compressions.get(digest);
        const first = pending === undefined;
        if (!pending) {
          pending = precompress(blobs, { digest, size, path });
          compressions.set(digest, pending);
        }
        const result = await pending;
        if (result.reused || !first) reused++;
        else compressed++;
        Object.assign(file, result.variants);
      }
      bytes += size;
      entries[index] = [rel, file];
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, paths.length) }, worker));

  const tree: StaticTree = { files: Object.fromEntries(entries) };
  const { digest: treeDigest } = await blobs.putJson(tree);
  onProgress?.(
    `static: stored ${paths.length} files (${formatBytes(bytes)}); precompressed ${compressed}, reused ${reused} earlier compressions`,
  );
  return { treeDigest, files: paths.length, bytes };
}

/**
 * Regular files under root, sorted (so equal uploads give the same manifest digest). A symlink is
 * served as its target file when that lies inside the upload; links to folders are skipped, which
 * also rules out loops.
 */
async function listFiles(root: string, onProgress?: (line: string) => void): Promise<string[]> {
  const out: string[] = [];
  const walk = async (relDir: string): Promise<void> => {
    const names = (await readdir(join(root, relDir))).sort();
    for (const name of names) {
      const rel = relDir === "" ? name : `${relDir}/${name}`;
      if (relDir === "" && NOT_SERVED.has(name)) continue;
      const abs = join(root, rel);
      const st = await lstat(abs);
      if (st.isDirectory()) await walk(rel);
      else if (st.isFile()) out.push(rel);
      else if (st.isSymbolicLink()) {
        const target = await realpath(abs).catch((err: NodeJS.ErrnoException) => {
          if (err.code === "ENOENT" || err.code === "ELOOP") return undefined;
          throw err;
        });
        const inside = target !== undefined && target.startsWith(root + sep);
        if (inside && (await stat(target)).isFile()) out.push(rel);
        else onProgress?.(`static: skipping ${rel}: a symbolic link to something other than a file in the upload`);
      }
    }
  };
  await walk("");
  return out;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}
