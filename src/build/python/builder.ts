import type { ImageBuild, ImageBuildContext, ImageBuildResult } from "../image-builder.js";
import { mergeEnv, sourceLayer, writeBuildpackImage } from "../buildpack/app-image.js";
import { startCommand } from "../buildpack/entrypoint.js";
import { layersOf } from "../buildpack/layers.js";
import { pythonDependencyLayer, VENV } from "./deps.js";
import { chooseLanguageImage, describeChoice, RUNS_LABEL, runtimeId } from "../../images/index.js";

/**
 * Python apps without a Dockerfile, built like App Engine Standard's python3 runtimes: the python base image
 * of the minor app.yaml `runtime: python3NN` names (language-image.ts: the nearest newer where no Debian
 * suite has it; Debian 12's 3.11 when none is named), a cached venv layer with the app's requirements,
 * the source under /app, started by app.yaml `entrypoint`, a Procfile `web:` line, or
 * `gunicorn -b :$PORT main:app`.
 */
const DEFAULT_START = "gunicorn -b :$PORT main:app";
/** Left out of the /app layer: the venv comes from the dependency layer; bytecode is rebuilt. */
const SOURCE_EXCLUDES = [".venv", "__pycache__", ".git"];

export class PythonBuilder implements ImageBuild {
  readonly name = "python";

  async build(ctx: ImageBuildContext): Promise<ImageBuildResult> {
    const choice = chooseLanguageImage("python", askedPythonVersion(ctx.spec.runtime));
    const runtime = ctx.spec.runtime ?? runtimeId("python", choice.recipe.runs.version);
    const baseRef = await ctx.catalog.ensure(choice.recipe.name, ctx.log);
    const base = await ctx.layout.resolve(baseRef.ref ?? baseRef.digest);
    const runs = describeChoice(choice, base.config.config.Labels?.[RUNS_LABEL]);
    ctx.log(`runtime ${runtime}: ${runs}`);
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
    return { image, runtime, runs, cached: { dependencies: deps.cached }, sizeBytes };
  }
}

/** The Python minor app.yaml's runtime names (python313 → 3.13); none for `python3` or no runtime. */
export function askedPythonVersion(runtime: string | undefined): string | undefined {
  const minor = /^python3(\d+)$/.exec(runtime ?? "")?.[1];
  return minor === undefined ? undefined : `3.${minor}`;
}
