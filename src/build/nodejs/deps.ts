import { join } from "node:path";
import { StrataError } from "../../errors.js";
import type { Layer } from "../../images/layout.js";
import type { BuildContext } from "../builder.js";
import { cachedLayer, dependencyCacheRef, runStepLayer, sha256, storeCachedLayer } from "../buildpack/layers.js";
import { readIfExists } from "../buildpack/source.js";
import type { BuildStep, StepCommand } from "../buildpack/step.js";

/**
 * The dependency layer of a Node.js app: /app/node_modules, installed by the base image's npm, cached by
 * the lockfile's hash. `npm ci` needs the npm registry, which only the host reaches: the step shares the
 * host's network namespace (it still has its own pid/mount namespaces and cgroup). npm runs no
 * dependency install scripts it was not told to allow (`--ignore-scripts`): a dependency's postinstall is
 * code from the registry running as root on the build host's network.
 */
const DEPS_RECIPE_VERSION = 1;

/** Keep npm's cache, logs and update checks out of the layer and off the network. */
export const NPM_ENV = [
  "npm_config_cache=/tmp/.npm",
  "npm_config_update_notifier=false",
  "npm_config_fund=false",
  "npm_config_audit=false",
];

export interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
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
    const text = await readIfExists(join(sourceDir, name));
    if (text !== null) return { name, text };
  }
  return null;
}

export async function nodeDependencyLayer(
  ctx: BuildContext,
  base: readonly Layer[],
  plan: NodeDependencyPlan,
): Promise<{ layer: Layer; cached: boolean }> {
  const key = sha256(
    String(DEPS_RECIPE_VERSION),
    base.map((l) => l.diffId).join(","),
    plan.lockfile?.text ?? plan.packageJson,
    plan.includeDev ? "with-dev" : "prod",
  );
  const cacheRef = dependencyCacheRef("node-deps", key);
  const hit = await cachedLayer(ctx.layout, cacheRef);
  if (hit) {
    ctx.log(`dependencies: reusing cached layer ${hit.descriptor.digest.slice(0, 19)} (lockfile unchanged)`);
    return { layer: hit, cached: true };
  }
  const command = installCommand(plan);
  if (!plan.lockfile) ctx.log("warning: no package-lock.json; installing from package.json ranges (commit a lockfile for repeatable builds)");
  const layer = await runStepLayer(
    ctx,
    { purpose: "deps", below: base, mounts: [], network: "host", env: ["PATH=/usr/local/bin:/usr/bin:/bin", ...NPM_ENV] },
    async (step) => {
      await step.writeFile("/app/package.json", plan.packageJson, 0o644);
      if (plan.lockfile) await step.writeFile(`/app/${plan.lockfile.name}`, plan.lockfile.text, 0o644);
      await runNpm(step, command, "install the app's dependencies");
      // The manifest files belong to the app layer; they were written in this layer only, so removing them leaves no whiteout.
      await step.removeFile("/app/package.json");
      if (plan.lockfile) await step.removeFile(`/app/${plan.lockfile.name}`);
    },
  );
  await storeCachedLayer(ctx.layout, cacheRef, base, layer);
  return { layer, cached: false };
}

function installCommand(plan: NodeDependencyPlan): StepCommand {
  const omit = plan.includeDev ? [] : ["--omit=dev"];
  const argv = plan.lockfile
    ? ["npm", "ci", ...omit, "--ignore-scripts", "--no-audit", "--no-fund"]
    : ["npm", "install", ...omit, "--ignore-scripts", "--no-audit", "--no-fund", "--no-package-lock"];
  return { argv, cwd: "/app" };
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
