import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, lstat, mkdir, readdir, rename, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { StrataError } from "../errors.js";
import { exec } from "../system/exec.js";
import type { NodeDistributionRecipe, NpmPackagePin } from "./recipes.js";

/**
 * The layer of a node-distribution recipe: the official Node.js build and npm, fetched from the npm
 * registry by the host's npm (`npm pack`, which checks the registry's own integrity), checked again
 * against the sha512 pinned in the recipe, and laid out under /usr/local as Node's release tarballs do:
 * bin/node, lib/node_modules/npm, bin/npm and bin/npx as links into it. Headers, docs and man pages are
 * left out (the images carry no compiler, and slim images drop docs); Node's LICENSE stays. The base has
 * no ca-certificates package (installing it would take another mmdebstrap run), so the layer also holds
 * /etc/ssl/certs/ca-certificates.crt made of the root certificates this Node build itself trusts.
 */

/** Debian's CA bundle path: tools look for it there, and build steps bind the host's bundle over it. */
const CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt";

/** Builds the layer's tree under `workDir` and returns its root (the directory to tar). */
export async function nodeDistributionTree(
  recipe: NodeDistributionRecipe,
  workDir: string,
  onProgress: (line: string) => void,
): Promise<string> {
  if (process.arch !== "x64") {
    throw new StrataError("UNSUPPORTED_RUNTIME", `the ${recipe.name} image pins ${recipe.nodePackage.name}, a linux-x64 build; this host is ${process.arch}`);
  }
  const downloads = join(workDir, "downloads");
  const nodeTarball = await fetchPinnedPackage(recipe.nodePackage, downloads, onProgress);
  const npmTarball = await fetchPinnedPackage(recipe.npmPackage, downloads, onProgress);
  onProgress(`unpacking Node.js ${recipe.nodePackage.version} and npm ${recipe.npmPackage.version} into /usr/local`);

  const root = join(workDir, "layer");
  const local = join(root, "usr", "local");
  for (const dir of ["bin", "lib/node_modules/npm", "share/doc/node"]) await mkdir(join(local, dir), { recursive: true });

  const nodePackage = join(workDir, "node-package");
  await mkdir(nodePackage);
  await untar(nodeTarball, nodePackage, ["package/bin/node", "package/LICENSE"]);
  await rename(join(nodePackage, "bin", "node"), join(local, "bin", "node"));
  await rename(join(nodePackage, "LICENSE"), join(local, "share", "doc", "node", "LICENSE"));

  const npmDir = join(local, "lib", "node_modules", "npm");
  await untar(npmTarball, npmDir, [], ["package/docs", "package/man"]);
  await symlink("../lib/node_modules/npm/bin/npm-cli.js", join(local, "bin", "npm"));
  await symlink("../lib/node_modules/npm/bin/npx-cli.js", join(local, "bin", "npx"));
  await writeCaBundle(recipe, join(local, "bin", "node"), root);
  // Containers run apps as nobody: everything must be readable (and directories searchable) by all,
  // whatever the daemon's umask made of the directories tar created implicitly.
  await chmod(root, 0o755);
  await makeWorldReadable(root);
  return root;
}

/**
 * Runs the unpacked node on the host (the official linux-x64 build, its sha512 just checked): it must
 * be the pinned version, and its bundled roots become the image's CA
 * bundle. A build step on the host's network replaces that file with the host's own bundle (a
 * TLS-inspecting proxy's CA included) only when the image has one, which is why it must exist.
 */
async function writeCaBundle(recipe: NodeDistributionRecipe, nodeBin: string, root: string): Promise<void> {
  const env = { PATH: "/usr/bin:/bin" };
  const version = (await exec([nodeBin, "--version"], { env })).stdout.trim();
  if (version !== `v${recipe.node}`) {
    throw new StrataError("COMMAND_FAILED", `${recipe.nodePackage.name}@${recipe.nodePackage.version} holds Node.js ${version}, not v${recipe.node}`);
  }
  const { stdout } = await exec([nodeBin, "--print", "require('node:tls').rootCertificates.join('\\n')"], { env });
  if (!stdout.includes("-----BEGIN CERTIFICATE-----")) throw new StrataError("COMMAND_FAILED", `node ${version} printed no root certificates`);
  await mkdir(join(root, dirname(CA_BUNDLE)), { recursive: true });
  await writeFile(join(root, CA_BUNDLE), stdout.endsWith("\n") ? stdout : `${stdout}\n`);
}

/** `npm pack NAME@VERSION` into `dir`, verified against the pin; returns the tarball's path. */
export async function fetchPinnedPackage(pin: NpmPackagePin, dir: string, onProgress: (line: string) => void): Promise<string> {
  await mkdir(dir, { recursive: true });
  const spec = `${pin.name}@${pin.version}`;
  const argv = ["npm", "pack", spec, "--pack-destination", dir, "--json", "--ignore-scripts"];
  onProgress(`$ ${argv.join(" ")}`);
  let stdout: string;
  try {
    // The host's npm config (registry, proxy) applies; the cache is the build's own, removed with it.
    ({ stdout } = await exec(argv, {
      cwd: dir,
      env: { ...process.env, npm_config_cache: join(dir, ".npm-cache"), npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" },
      timeoutMs: 15 * 60_000,
    }));
  } catch (err) {
    const stderr = String((err as { details?: { stderr?: unknown } }).details?.stderr ?? (err as Error).message);
    const reason = stderr.split("\n").filter((l) => /^npm (ERR!|error)/.test(l)).join("\n") || stderr.trim().split("\n").slice(-3).join("\n");
    throw new StrataError(
      "COMMAND_FAILED",
      `could not fetch ${spec} from the npm registry: ${reason}\nThis base image needs the npm registry (or a mirror set as \`registry\` in the host's npm config).`,
      { argv, reason },
      { cause: err },
    );
  }
  const packed = parsePackOutput(stdout, spec);
  const file = join(dir, packed.filename);
  await verifyIntegrity(file, pin);
  onProgress(`${spec}: ${(packed.size / 1e6).toFixed(1)} MB, sha512 matches the recipe's pin`);
  return file;
}

/** Throws unless the file's sha512 is the pin's `integrity` (npm's SRI form, `sha512-<base64>`). */
export async function verifyIntegrity(file: string, pin: NpmPackagePin): Promise<void> {
  if (!pin.integrity.startsWith("sha512-")) {
    throw new StrataError("INTERNAL", `the pin of ${pin.name}@${pin.version} must be a sha512 integrity, not ${pin.integrity}`);
  }
  const hash = createHash("sha512");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  const actual = `sha512-${hash.digest("base64")}`;
  if (actual !== pin.integrity) {
    throw new StrataError(
      "COMMAND_FAILED",
      `${pin.name}@${pin.version} as fetched has integrity ${actual}, not the pinned ${pin.integrity}; refusing to use it`,
      { package: `${pin.name}@${pin.version}`, expected: pin.integrity, actual },
    );
  }
}

function parsePackOutput(stdout: string, spec: string): { filename: string; size: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (err) {
    throw new StrataError("COMMAND_FAILED", `npm pack ${spec} printed no JSON report: ${stdout.slice(0, 200)}`, undefined, { cause: err });
  }
  const first = Array.isArray(parsed) ? (parsed[0] as { filename?: unknown; size?: unknown } | undefined) : undefined;
  if (typeof first?.filename !== "string" || first.filename.includes("/")) {
    throw new StrataError("COMMAND_FAILED", `npm pack ${spec} reported no tarball: ${stdout.slice(0, 200)}`);
  }
  return { filename: first.filename, size: typeof first.size === "number" ? first.size : 0 };
}

/** Extracts an npm tarball's `package/` into `dir` (members: all when empty), owned by the extracting user. */
async function untar(tarball: string, dir: string, members: readonly string[], excludes: readonly string[] = []): Promise<void> {
  await exec([
    "tar",
    "--extract",
    "--gzip",
    "--file",
    tarball,
    "--directory",
    dir,
    "--strip-components=1",
    "--no-same-owner",
    ...excludes.map((e) => `--exclude=${e}`),
    ...members,
  ]);
}

/** Directories 0755; files keep their execute bits and become readable by all. Symlinks are left alone. */
async function makeWorldReadable(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await chmod(path, 0o755);
      await makeWorldReadable(path);
    } else if (entry.isFile()) {
      const mode = (await lstat(path)).mode & 0o777;
      await chmod(path, mode & 0o111 ? 0o755 : 0o644);
    }
  }
}
