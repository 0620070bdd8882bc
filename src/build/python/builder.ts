import { join } from "node:path";
import type { Builder, AppYamlLike, BuildContext, BuildResult } from "../builder.js";
import { mergeEnv, sourceLayer, writeBuildpackImage } from "../buildpack/app-image.js";
import { startCommand } from "../buildpack/entrypoint.js";
import { layersOf } from "../buildpack/layers.js";
import { exists } from "../buildpack/source.js";
import { pythonDependencyLayer, VENV } from "./deps.js";

/**
 * Python apps without a Dockerfile, built like App Engine Standard's python3 runtimes: Debian's python3
 * base image, a cached venv layer with the app's requirements, the source under /app, started by app.yaml
 * `entrypoint`, a Procfile `web:` line, or `gunicorn -b :$PORT main:app`.
 */
const DEFAULT_RUNTIME = "python311";
const DEFAULT_START = "gunicorn -b :$PORT main:app";
const MARKERS = ["requirements.txt", "pyproject.toml", "main.py"];
/** Left out of the /app layer: the venv comes from the dependency layer; bytecode is rebuilt. */
const SOURCE_EXCLUDES = [".venv", "__pycache__", ".git"];

export class PythonBuilder implements Builder {
  readonly name = "python";

  async detect(dir: string, spec: AppYamlLike): Promise<boolean> {
    if (spec.runtime) return /^python3\d*$/.test(spec.runtime);
    for (const m of MARKERS) if (await exists(join(dir, m))) return true;
    return false;
  }

  async build(ctx: BuildContext): Promise<BuildResult> {
    const runtime = ctx.spec.runtime ?? DEFAULT_RUNTIME;
    const baseRef = await ctx.catalog.ensure("python", ctx.log);
    const base = await ctx.layout.resolve(baseRef.ref ?? baseRef.digest);
    noteVersion(ctx, runtime, base.config.config.Labels?.["dev.strata.packages"]);
    const baseLayers = layersOf(base);
    const deps = await pythonDependencyLayer(ctx, baseLayers);
    const app = await sourceLayer(ctx, SOURCE_EXCLUDES);
    const start = await startCommand(ctx.sourceDir, ctx.spec, DEFAULT_START);
    ctx.log(`start command (${start.source}): ${start.command}`);
    const baseEnv = base.config.config.Env ?? [];
    const path = baseEnv.find((e) => e.startsWith("PATH="))?.slice("PATH=".length) ?? "/usr/bin:/bin";
    const { image, sizeBytes } = await writeBuildpackImage(
      ctx,
      [
        ...baseLayers.map((layer) => ({ layer, createdBy: `base image ${baseRef.ref}` })),
        { layer: deps.layer, createdBy: `python dependencies (venv ${VENV})` },
        { layer: app, createdBy: "app source in /app" },
      ],
      runtime,
      mergeEnv(baseEnv, [`PATH=${VENV}/bin:${path}`, `VIRTUAL_ENV=${VENV}`, "PORT=8080", "PYTHONDONTWRITEBYTECODE=1"]),
      start.entrypoint,
    );
    return { image, runtime, cached: { dependencies: deps.cached }, sizeBytes };
  }
}

/** App Engine's runtime names a Python minor version; the image has Debian 12's. Say so when they differ. */
function noteVersion(ctx: BuildContext, runtime: string, packages: string | undefined): void {
  const wanted = /^python3(\d+)$/.exec(runtime)?.[1];
  if (wanted && wanted !== "11") {
    ctx.log(`note: runtime ${runtime} asks for Python 3.${wanted}; the base image has Debian 12's Python 3.11 (${packages ?? "python3"})`);
  }
}
