import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";

/**
 * The host's apt configuration as mmdebstrap should use it: the same mirrors (sources files, passed as
 * mmdebstrap MIRROR arguments) and the same network settings (apt.conf.d files made only of `Acquire::`
 * options: proxies, snapshot-mirror validity). Other apt.conf.d files (hooks, caches) stay on the host.
 */
export interface HostAptConfig {
  /** Sources files (one-line `.list` or deb822 `.sources`) that name at least one repository. */
  sourceFiles: string[];
  /** apt.conf.d files with only Acquire:: settings. */
  aptOptionFiles: string[];
  /** Their contents, concatenated: part of a base image's cache key. */
  fingerprint: string;
  /** The host's Debian codename (/etc/os-release VERSION_CODENAME), the suite its sources files name. */
  codename: string | undefined;
}

export async function readHostAptConfig(etcApt = "/etc/apt", osRelease = "/etc/os-release"): Promise<HostAptConfig> {
  const sourceFiles: string[] = [];
  const aptOptionFiles: string[] = [];
  let fingerprint = "";
  const candidates = [join(etcApt, "sources.list"), ...(await listDir(join(etcApt, "sources.list.d"))).filter((f) => /\.(list|sources)$/.test(f))];
  for (const file of candidates) {
    const text = await readIfExists(file);
    if (text === null || !/^\s*(deb\s|Types:\s*.*\bdeb\b)/m.test(text)) continue;
    sourceFiles.push(file);
    fingerprint += `${file}\n${text}\n`;
  }
  for (const file of await listDir(join(etcApt, "apt.conf.d"))) {
    const text = await readIfExists(file);
    if (text === null || !onlyAcquireOptions(text)) continue;
    aptOptionFiles.push(file);
    fingerprint += `${file}\n${text}\n`;
  }
  const codename = /^VERSION_CODENAME=["']?([a-z]+)/m.exec((await readIfExists(osRelease)) ?? "")?.[1];
  return { sourceFiles, aptOptionFiles, fingerprint, codename };
}

/**
 * The host's sources as they would read for another suite: the same mirrors, with the host's codename
 * replaced (`bookworm`, `bookworm-updates`, `bookworm-security` → `trixie`, ...). Written under `dir`;
 * returns the files to hand mmdebstrap. Hosts whose sources name no codename get them unchanged.
 */
export async function sourcesForSuite(apt: HostAptConfig, suite: string, dir: string): Promise<string[]> {
  if (apt.codename === undefined || apt.codename === suite) return apt.sourceFiles;
  const codename = new RegExp(`\\b${apt.codename}(?=$|[\\s/-])`, "gm");
  await mkdir(dir, { recursive: true });
  const out: string[] = [];
  for (const [i, file] of apt.sourceFiles.entries()) {
    const target = join(dir, `${i}-${basename(file)}`);
    await writeFile(target, (await readFile(file, "utf8")).replace(codename, suite));
    out.push(target);
  }
  return out;
}

function onlyAcquireOptions(text: string): boolean {
  const lines = text
    .split("\n")
    .map((l) => l.replace(/\/\/.*$/, "").trim())
    .filter((l) => l && !l.startsWith("#"));
  return lines.length > 0 && lines.every((l) => l.startsWith("Acquire::") || /^\}\s*;?$/.test(l));
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort().map((f) => join(dir, f));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return []; // a host without that dir has no such files
    throw err;
  }
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EISDIR") return null; // listed but gone, or a directory: not a config file
    throw err;
  }
}
