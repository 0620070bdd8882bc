import { chmod, copyFile, mkdir, readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize } from "node:path";
import { StrataError } from "../../errors.js";
import type { Layer } from "../../images/index.js";
import type { ImageBuildContext } from "../image-builder.js";
import { cachedLayer, dependencyCacheRef, hashTree, runStepLayer, sha256, storeCachedLayer } from "../buildpack/layers.js";
import { copySource, readSourceFile, resolveInSource } from "../buildpack/source.js";
import { UNPRIVILEGED_BUILD_USER, type BuildStep, type StepCommand } from "../buildpack/step.js";

/**
 * The dependency layer of a Node.js app: /app/node_modules, installed by the base image's npm, cached by
 * the lockfile's hash. npm runs as it does on Heroku or App Engine, dependency install scripts included
 * (a postinstall that fetches a prebuilt binary or generates files works; node-gyp compiles need a
 * compiler the base images do not carry), and the sandbox is what makes that
 * safe: the step runs as nobody with no capabilities, under the step's pids and memory limits, in a
 * network namespace of its own whose only way out is slirp4netns (it reaches the npm registry as the host
 * does, but none of the host's loopback services). The step sees package.json, the lockfile, the app's
 * .npmrc (so `ignore-scripts=true` there turns install scripts off, and a private registry works) and the
 * `file:` dependencies, not the rest of the source: the layer must depend only on what its key hashes.
 * For the same reason the app's OWN install-time scripts (postinstall, prepare, ...) are left out here;
 * they run in the source step, after the source is in place.
 */
/** Bump when the layer's recipe changes (2: install scripts run, as nobody, with outbound network only). */
const DEPS_RECIPE_VERSION = 2;

/** Keep npm's cache, logs and update checks out of the layer and off the network. */
export const NPM_ENV = [
  "npm_config_cache=/tmp/.npm",
  "npm_config_update_notifier=false",
  "npm_config_fund=false",
  "npm_config_audit=false",
];

/**
 * The app's own scripts npm runs on `npm ci`, in npm's order. They expect the app's source, which this step
 * does not have: the source step runs them (appInstallScripts, builder.ts).
 */
const ROOT_INSTALL_SCRIPTS = ["preinstall", "install", "postinstall", "prepublish", "preprepare", "prepare", "postprepare"];

/** The app's own install scripts npm would run, in its order; none when the app's .npmrc sets ignore-scripts. */
export function appInstallScripts(pkg: PackageJson, npmrc: string | null): string[] {
  if (npmrc !== null && /^\s*ignore-scripts\s*=\s*true\s*$/m.test(npmrc)) return [];
  return ROOT_INSTALL_SCRIPTS.filter((s) => typeof pkg.scripts?.[s] === "string");
}

export interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  engines?: Record<string, unknown>;
}

export interface NodeDependencyPlan {
  packageJson: string;
  /** package-lock.json or npm-shrinkwrap.json: name and text. */
  lockfile: { name: string; text: string } | null;
  /** Install devDependencies too (a `build` script needs them; they are pruned after the build). */
  includeDev: boolean;
}

export async function lockfileOf(sourceDir: string): Promise<NodeDependencyPlan["lockfile"]> {
  for (const name of ["npm-shrinkwrap.json", "package-lock.json"]) {
    const text = await readSourceFile(sourceDir, name);
    if (text !== null) return { name, text };
  }
  return null;
}

export async function nodeDependencyLayer(
  ctx: ImageBuildContext,
  base: readonly Layer[],
  plan: NodeDependencyPlan,
): Promise<{ layer: Layer; cached: boolean }> {
  const npmrc = await readSourceFile(ctx.sourceDir, ".npmrc");
  const local = await localPackages(ctx.sourceDir, JSON.parse(plan.packageJson) as PackageJson);
  const key = sha256(
    String(DEPS_RECIPE_VERSION),
    base.map((l) => l.diffId).join(","),
    plan.lockfile?.text ?? plan.packageJson,
    plan.includeDev ? "with-dev" : "prod",
    npmrc ?? "",
    ...local.map((p) => `${p.path}:${p.digest}`),
  );
  const cacheRef = dependencyCacheRef("node-deps", key);
  const hit = await cachedLayer(ctx.layout, cacheRef);
  if (hit) {
    ctx.log(`dependencies: reusing cached layer ${hit.descriptor.digest.slice(0, 19)} (lockfile unchanged)`);
    return { layer: hit, cached: true };
  }
  const command = installCommand(plan);
  if (!plan.lockfile) ctx.log("warning: no package-lock.json; installing from package.json ranges (commit a lockfile for repeatable builds)");
  const manifests = ["package.json", ...(plan.lockfile ? [plan.lockfile.name] : []), ...(npmrc !== null ? [".npmrc"] : [])];
  const layer = await runStepLayer(
    ctx,
    {
      purpose: "deps",
      below: base,
      mounts: [],
      network: "outbound",
      user: UNPRIVILEGED_BUILD_USER,
      env: ["PATH=/usr/local/bin:/usr/bin:/bin", ...NPM_ENV],
    },
    async (step) => {
      await step.writableDir("/app");
      await step.writeFile("/app/package.json", withoutRootInstallScripts(plan.packageJson), 0o644);
      if (plan.lockfile) await step.writeFile(`/app/${plan.lockfile.name}`, plan.lockfile.text, 0o644);
      if (npmrc !== null) await step.writeFile("/app/.npmrc", npmrc, 0o644);
      for (const p of local) await copyLocalPackage(step, p);
      await runNpm(step, command, "install the app's dependencies");
      // These belong to the app layer; they were written in this layer only, so removing them leaves no
      // whiteout. A `file:` directory stays: npm links node_modules to it, and its install scripts built in it.
      for (const name of manifests) await step.removeFile(`/app/${name}`);
      for (const p of local) if (!p.directory) await step.removeFile(`/app/${p.path}`);
    },
  );
  await storeCachedLayer(ctx.layout, cacheRef, base, layer);
  return { layer, cached: false };
}

function installCommand(plan: NodeDependencyPlan): StepCommand {
  const omit = plan.includeDev ? [] : ["--omit=dev"];
  const argv = plan.lockfile
    ? ["npm", "ci", ...omit, "--no-audit", "--no-fund"]
    : ["npm", "install", ...omit, "--no-audit", "--no-fund", "--no-package-lock"];
  return { argv, cwd: "/app" };
}

/** package.json as the step gets it: the app's own install-time scripts removed (see the top of this file). */
function withoutRootInstallScripts(packageJson: string): string {
  const pkg = JSON.parse(packageJson) as PackageJson;
  const moved = ROOT_INSTALL_SCRIPTS.filter((s) => pkg.scripts?.[s] !== undefined);
  if (!moved.length) return packageJson;
  for (const s of moved) delete pkg.scripts![s];
  return JSON.stringify(pkg, null, 2);
}

/** A `file:` dependency inside the app: a tarball or a package folder, relative to package.json. */
interface LocalPackage {
  /** As package.json names it, normalized: where it goes under /app. */
  path: string;
  /** Its real path in the source (inside it: resolveInSource). */
  source: string;
  directory: boolean;
  /** What it holds, for the cache key. */
  digest: string;
}

/**
 * The `file:` (or `./path`) dependencies npm installs from the app's own folder; devDependencies' too, even
 * with --omit=dev: npm reads every manifest to build its tree before it leaves some out.
 */
async function localPackages(sourceDir: string, pkg: PackageJson): Promise<LocalPackage[]> {
  const specs = [pkg.dependencies, pkg.optionalDependencies, pkg.devDependencies].flatMap((deps) => Object.entries(deps ?? {}));
  const found: LocalPackage[] = [];
  for (const [name, spec] of specs) {
    const where = /^file:/.test(spec) ? spec.slice("file:".length) : /^\.{0,2}\//.test(spec) ? spec : null;
    if (where === null) continue;
    const path = normalize(where);
    if (isAbsolute(path) || path === ".." || path.startsWith("../")) {
      throw new StrataError("BUILD_FAILED", `package.json: dependency ${name} is "${spec}", outside the app's folder; only the app's folder is deployed: move the package (or its tarball) inside it`, { dependency: name, spec });
    }
    const source = await resolveInSource(sourceDir, path);
    if (source === null) throw new StrataError("BUILD_FAILED", `package.json: dependency ${name} is "${spec}", but ${path} is not in the app's folder`, { dependency: name, spec });
    const info = await stat(source);
    if (!info.isFile() && !info.isDirectory()) throw new StrataError("BUILD_FAILED", `package.json: dependency ${name} is "${spec}", which is neither a tarball nor a package folder`, { dependency: name, spec });
    const directory = info.isDirectory();
    found.push({ path, source, directory, digest: directory ? await hashTree(source) : sha256((await readFile(source)).toString("base64")) });
  }
  return found.sort((a, b) => (a.path < b.path ? -1 : 1));
}

async function copyLocalPackage(step: BuildStep, p: LocalPackage): Promise<void> {
  const dest = join(step.rootfs, "app", p.path);
  if (p.directory) {
    await copySource(p.source, dest, ["node_modules", ".git"]);
    await step.ownTree(`/app/${p.path}`); // npm runs the package's install scripts inside it
    return;
  }
  await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
  await copyFile(p.source, dest);
  await chmod(dest, 0o644); // npm reads it as the step's unprivileged user
}

/** Runs npm; a failure becomes BUILD_FAILED carrying npm's own error lines. */
export async function runNpm(step: BuildStep, command: StepCommand, what: string): Promise<void> {
  try {
    await step.run(command);
  } catch (err) {
    const stderr = String((err as { details?: { stderr?: unknown } }).details?.stderr ?? (err as Error).message);
    const reasons = stderr.split("\n").filter((l) => /^npm (ERR!|error)/.test(l));
    const reason = (reasons.length ? reasons : [stderr.trim()]).join("\n");
    throw new StrataError("BUILD_FAILED", `${command.argv.join(" ")} failed to ${what}:\n${reason}`, { reason }, { cause: err });
  }
}
