import { join } from "node:path";
import { StrataError } from "../../errors.js";
import type { Layer } from "../../images/index.js";
import type { ImageBuildContext } from "../image-builder.js";
import { cachedLayer, dependencyCacheRef, hashTree, runStepLayer, sha256, storeCachedLayer } from "../buildpack/layers.js";
import { readIfExists } from "../buildpack/source.js";
import type { BuildStep } from "../buildpack/step.js";

/**
 * The dependency layer of a Python app: a venv at /app/.venv that sees the base image's packages
 * (--system-site-packages: gunicorn comes from Debian), with the app's requirements installed by the
 * image's own pip. An app that ships its wheels (`wheels/` or `vendor/`) installs from them alone, in a
 * container with no network, so it builds where no index is reachable; any other resolves from
 * `pip.index-url` (PyPI unless config.yaml says otherwise) through an outbound network of the step's own
 * (not the host's loopback: an index must be reachable at an address other than 127.0.0.1). The layer is
 * cached by everything that decides its bytes.
 */
export const VENV = "/app/.venv";

/** Bump when the layer's recipe below changes. */
const DEPS_RECIPE_VERSION = 1;

/** Runs gunicorn with the venv's python, so the app's venv packages are importable from the workers. */
const GUNICORN_LAUNCHER = `#!${VENV}/bin/python3
import sys
from gunicorn.app.wsgiapp import run
sys.exit(run())
`;

/** Reads [project].dependencies of a pyproject.toml with the image's python (tomllib, 3.11+). */
const PYPROJECT_DEPENDENCIES = `import json, sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(json.dumps(tomllib.load(f).get("project", {}).get("dependencies", [])))
`;

export interface DependencyLayer {
  layer: Layer;
  cached: boolean;
}

export async function pythonDependencyLayer(ctx: ImageBuildContext, base: readonly Layer[]): Promise<DependencyLayer> {
  const requirements = await readIfExists(join(ctx.sourceDir, "requirements.txt"));
  const wheels = await hashTree(join(ctx.sourceDir, "wheels"));
  const vendor = await hashTree(join(ctx.sourceDir, "vendor"));
  // hashTree gives "" for a folder that is not there.
  const index = wheels === "" && vendor === "" ? ctx.pipIndexUrl : undefined;
  const pyproject = requirements === null ? await readIfExists(join(ctx.sourceDir, "pyproject.toml")) : null;
  const key = sha256(
    String(DEPS_RECIPE_VERSION),
    base.map((l) => l.diffId).join(","),
    requirements ?? "",
    pyproject ?? "",
    wheels,
    vendor,
    index ?? "",
  );
  const cacheRef = dependencyCacheRef("python-deps", key);
  const hit = await cachedLayer(ctx.layout, cacheRef);
  if (hit) {
    ctx.log(`dependencies: reusing cached layer ${hit.descriptor.digest.slice(0, 19)} (requirements unchanged)`);
    return { layer: hit, cached: true };
  }
  ctx.log(requirements !== null ? "dependencies: installing requirements.txt" : pyproject !== null ? "dependencies: installing pyproject.toml [project].dependencies" : "dependencies: none declared; creating the venv");
  const layer = await runStepLayer(
    ctx,
    {
      purpose: "deps",
      below: base,
      mounts: [{ source: ctx.sourceDir, destination: "/workspace", readonly: true }],
      // Resolving from an index needs a way out (not to the host's loopback); wheels/ and vendor/ need none.
      network: index ? "outbound" : "none",
      env: ["PATH=/usr/local/bin:/usr/bin:/bin", "PIP_NO_CACHE_DIR=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PYTHONDONTWRITEBYTECODE=1"],
    },
    async (step) => {
      await step.run({ argv: ["/usr/bin/python3", "-m", "venv", "--system-site-packages", "--without-pip", VENV], cwd: "/app" });
      await step.writeFile(`${VENV}/bin/gunicorn`, GUNICORN_LAUNCHER, 0o755);
      const args = requirements !== null ? (declaresSomething(requirements) ? ["-r", "/workspace/requirements.txt"] : []) : pyproject !== null ? await pyprojectDependencies(step) : [];
      if (args.length) await pipInstall(ctx, step, args, index);
    },
  );
  await storeCachedLayer(ctx.layout, cacheRef, base, layer);
  return { layer, cached: false };
}

async function pyprojectDependencies(step: BuildStep): Promise<string[]> {
  const { stdout } = await step.run({ argv: [`${VENV}/bin/python3`, "-c", PYPROJECT_DEPENDENCIES, "/workspace/pyproject.toml"], cwd: "/app" }, { quiet: true });
  return JSON.parse(stdout.trim()) as string[];
}

async function pipInstall(ctx: ImageBuildContext, step: BuildStep, what: string[], index: string | undefined): Promise<void> {
  const source = index ? ["--index-url", index] : ["--no-index", "--find-links", "/workspace/wheels", "--find-links", "/workspace/vendor"];
  try {
    await step.run({ argv: [`${VENV}/bin/python3`, "-m", "pip", "install", "--no-input", ...source, ...what], cwd: "/app" });
  } catch (err) {
    const stderr = String((err as { details?: { stderr?: unknown } }).details?.stderr ?? (err as Error).message);
    const lines = stderr.split("\n");
    // An unreachable index shows only as retries; "no matching distribution" alone would hide why.
    const unreachable = lines.filter((l) => l.startsWith("WARNING: Retrying")).slice(-1);
    const reasons = [...unreachable, ...lines.filter((l) => l.startsWith("ERROR:"))];
    const reason = reasons.length ? reasons.join("\n") : stderr.trim();
    const todo = index
      ? onHostLoopback(index)
        ? `serve the index at an address other than the host's loopback (builds have a network of their own, with no way to the host's 127.0.0.1), or vendor their wheels in wheels/`
        : `check the names and versions in requirements.txt against ${index}, or vendor their wheels in wheels/ (pip wheel -r requirements.txt -w wheels/)`
      : ctx.pipIndexUrl
        ? "the app ships wheels/ or vendor/, so pip installs from them alone: add the missing wheels there (pip wheel -r requirements.txt -w wheels/), or remove the folder to install from the index"
        : "vendor a wheel in wheels/ (pip wheel -r requirements.txt -w wheels/ on a machine with package index access), or set pip.index-url in config.yaml";
    throw new StrataError("BUILD_FAILED", `pip could not install the app's dependencies:\n${reason}\nTo fix: ${todo}.`, { reason }, { cause: err });
  }
}

function onHostLoopback(url: string): boolean {
  if (!URL.canParse(url)) return false; // pip reports the malformed URL itself
  const host = new URL(url).hostname;
  return host === "localhost" || host === "[::1]" || host.startsWith("127.");
}

/** A requirements file with only comments and blank lines asks for nothing (and pip would refuse it). */
function declaresSomething(requirements: string): boolean {
  return requirements.split("\n").some((l) => l.replace(/#.*$/, "").trim() !== "");
}
