import { randomBytes } from "node:crypto";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { chooseLanguageImage, describeChoice, imagePaths, RUNS_LABEL, runtimeId, unpackLayerList } from "../../images/index.js";
import { exec } from "../../system/exec.js";
import type { ImageBuild, ImageBuildContext, ImageBuildResult } from "../image-builder.js";
import { APP_USER, mergeEnv, writeAppImage } from "../buildpack/app-image.js";
import { startCommand } from "../buildpack/entrypoint.js";
import { layersOf } from "../buildpack/layers.js";
import { copySource, readSourceFile } from "../buildpack/source.js";
import { BuildStep, UNPRIVILEGED_BUILD_USER } from "../buildpack/step.js";
import { stepWorkDir } from "../buildpack/work-dirs.js";
import { missingDependencies, vendoringAdvice } from "./missing-deps.js";
import { TASK, VENDORED_DEPS_SOURCE } from "./vendored-deps.js";

/** Left out of the build copy: a developer's compiled output (another OTP's) and editor state. */
const SOURCE_EXCLUDES = ["_build", ".git", ".elixir_ls"];
/** Where the release lives in the image. */
const RELEASE_DIR = "/app";

/**
 * Elixir apps (a mix.exs, or app.yaml `runtime: elixir1NN`), built as `MIX_ENV=prod mix release` with the
 * runtime included (erts and the OTP apps the release uses, copied from the build image's Erlang). The
 * build image is the suite's elixir (language-image.ts picks by `runtime:`, else by mix.exs's `elixir:`
 * requirement); the run image is that suite's minbase with the libraries erts links against (recipes.ts
 * `elixirNNN-run`), plus one layer holding the release at /app, started as `bin/<release> start`.
 * Builds have no network and no Hex client: dependencies are vendored, as path dependencies or as
 * hex packages left in deps/ by `mix deps.get` (vendored-deps.ts); a missing one fails the build naming it.
 * Mix runs as nobody in a runc container over the build image, on a copy of the source.
 */
export class ElixirBuilder implements ImageBuild {
  readonly name = "elixir";

  async build(ctx: ImageBuildContext): Promise<ImageBuildResult> {
    const mixExs = await readSourceFile(ctx.sourceDir, "mix.exs");
    if (mixExs === null) throw new StrataError("BUILD_FAILED", "an Elixir app needs a mix.exs at its root: run `mix new <name>` and move the app's code into it");
    const asked = askedElixirVersion(ctx.spec.runtime, mixExs);
    const choice = chooseLanguageImage("elixir", asked);
    const runtime = ctx.spec.runtime ?? runtimeId("elixir", choice.recipe.runs.version);
    const baseRef = await ctx.catalog.ensure(choice.recipe.name, ctx.log);
    const runRef = await ctx.catalog.ensure(`${choice.recipe.name}-run`, ctx.log);
    const base = await ctx.layout.resolve(baseRef.ref ?? baseRef.digest);
    const run = await ctx.layout.resolve(runRef.ref ?? runRef.digest);
    const runs = describeChoice(choice, base.config.config.Labels?.[RUNS_LABEL]);
    const otp = /erlang-crypto=(?:\d+:)?([\d.]+)/.exec(base.config.config.Labels?.["dev.strata.packages"] ?? "")?.[1];
    ctx.log(`${/^elixir1\d+$/.test(ctx.spec.runtime ?? "") ? `runtime ${runtime}` : asked ? `mix.exs's elixir ${asked}` : "no Elixir version stated"}: ${runs}${otp ? `, Erlang/OTP ${otp}` : ""}`);

    const id = `${ctx.app}-${ctx.version}-elixir-${randomBytes(3).toString("hex")}`.replace(/[^A-Za-z0-9_.-]/g, "-");
    const work = stepWorkDir(ctx.home, id);
    const src = join(work, "src");
    const mix = join(work, "mix");
    const layer = join(work, "layer");
    await mkdir(join(mix, "ebin"), { recursive: true, mode: 0o755 });
    await mkdir(join(layer, RELEASE_DIR.slice(1)), { recursive: true, mode: 0o755 });
    await copySource(ctx.sourceDir, src, SOURCE_EXCLUDES);
    await writeFile(join(mix, "strata_release.ex"), VENDORED_DEPS_SOURCE, { mode: 0o644 });
    const { uid, gid } = UNPRIVILEGED_BUILD_USER;
    for (const dir of [src, mix, join(layer, RELEASE_DIR.slice(1))]) await exec(["chown", "-R", "-P", `${uid}:${gid}`, dir]);

    const lowerDirs = await unpackLayerList(ctx.layout, layersOf(base).map((l) => l.descriptor), imagePaths(ctx.home).unpacked);
    const step = new BuildStep({
      id,
      lowerDirs,
      workDir: join(work, "step"),
      mounts: [
        { source: src, destination: "/build", readonly: false },
        { source: mix, destination: "/strata-mix", readonly: false },
        { source: join(layer, RELEASE_DIR.slice(1)), destination: "/release", readonly: false },
      ],
      network: "none",
      user: UNPRIVILEGED_BUILD_USER,
      env: mergeEnv(base.config.config.Env ?? [], [
        "MIX_ENV=prod",
        // Mix and Hex keep their state under HOME (a tmpfs here); HEX_OFFLINE for a Hex an app brings along.
        "HOME=/tmp",
        "MIX_HOME=/tmp/mix",
        "HEX_HOME=/tmp/hex",
        "HEX_OFFLINE=1",
        "MIX_PATH=/strata-mix/ebin",
      ]),
      log: ctx.log,
    });
    try {
      await step.mount();
      await step.run({ argv: ["elixirc", "--ignore-module-conflict", "-o", "/strata-mix/ebin", "/strata-mix/strata_release.ex"], cwd: "/strata-mix" }, { quiet: true });
      await release(step);
      const name = await releaseName(join(layer, RELEASE_DIR.slice(1), "bin"));
      // Root-owned and read-only to the app (nobody), as every buildpack's /app is.
      await exec(["chown", "-R", "-P", "0:0", layer]);
      await exec(["chmod", "-R", "a+rX,go-w", layer]);
      const releaseLayer = await ctx.layout.addLayerFromDir(layer);
      const script = `${RELEASE_DIR}/bin/${name}`;
      const start = await startCommand(ctx.sourceDir, ctx.spec, `${script} start`);
      ctx.log(`start command (${start.source}): ${start.command}`);
      // The release's own start as the entrypoint, no shell in between; app.yaml or a Procfile get /bin/sh -c.
      const entrypoint = start.source === "default" ? [script, "start"] : start.entrypoint;
      const runLayers = layersOf(run);
      const { image, sizeBytes } = await writeAppImage(
        ctx,
        [...runLayers.map((l) => ({ layer: l, createdBy: `base image ${runRef.ref}` })), { layer: releaseLayer, createdBy: `mix release ${name} (MIX_ENV=prod, erts included, ${baseRef.ref})` }],
        {
          Env: mergeEnv(run.config.config.Env ?? [], [
            "PORT=8080",
            // The release writes its runtime config (config/runtime.exs) under RELEASE_TMP at boot; /app is read-only.
            "RELEASE_TMP=/tmp",
            // One node, no epmd: nothing connects to it, and no cookie to guess.
            "RELEASE_DISTRIBUTION=none",
            "ERL_CRASH_DUMP=/tmp/erl_crash.dump",
            "HOME=/tmp",
          ]),
          Entrypoint: entrypoint,
          WorkingDir: RELEASE_DIR,
          User: APP_USER,
          ExposedPorts: { "8080/tcp": {} },
          Labels: { "dev.strata.runtime": runtime, [RUNS_LABEL]: runs, "dev.strata.app": ctx.app, "dev.strata.version": ctx.version, "dev.strata.elixir.release": name },
        },
      );
      const releaseMb = (releaseLayer.descriptor.size / 1e6).toFixed(1);
      ctx.log(`image ${image.ref} ${image.digest} (${(sizeBytes / 1e6).toFixed(1)} MB: release ${releaseMb} MB on ${runRef.ref})`);
      return { image, runtime, runs, cached: { dependencies: false }, sizeBytes };
    } finally {
      await step.discard();
      await rm(work, { recursive: true, force: true });
    }
  }
}

async function release(step: BuildStep): Promise<void> {
  try {
    await step.run({ argv: ["mix", TASK, "--path", "/release"], cwd: "/build" });
  } catch (err) {
    const output = String((err as StrataError).details?.stderr ?? (err as Error).message);
    const missing = missingDependencies(output);
    if (missing.length) {
      const what = missing.map((d) => `:${d.name}`).join(", ");
      throw new StrataError("BUILD_FAILED", `the app needs ${missing.length === 1 ? "dependency" : "dependencies"} ${what}, which the build could not find:\n${vendoringAdvice(missing)}`, { dependencies: missing, output }, { cause: err });
    }
    const tooOld = /You're trying to run :\w+ on Elixir v(\S+) but it has declared in its mix\.exs file it supports only Elixir (.+)$/m.exec(output);
    if (tooOld) {
      throw new StrataError("BUILD_FAILED", `mix.exs asks for Elixir ${tooOld[2]!.trim()}, and the build image has Elixir ${tooOld[1]}. To fix: set app.yaml \`runtime:\` to an Elixir runtime that satisfies it (elixir114, elixir118, elixir120), or leave it out so that mix.exs's elixir requirement picks.`, { output }, { cause: err });
    }
    throw new StrataError("BUILD_FAILED", `mix release failed:\n${output.trim()}`, { output }, { cause: err });
  }
}

/** The release's start script in bin/ (Mix also writes a .bat for Windows). */
async function releaseName(bin: string): Promise<string> {
  const scripts = (await readdir(bin)).filter((f) => !f.endsWith(".bat"));
  if (scripts.length !== 1) {
    throw new StrataError("BUILD_FAILED", `mix release left ${scripts.length ? scripts.join(", ") : "nothing"} in bin/; expected one start script. To fix: define one release in mix.exs (or set :default_release)`);
  }
  return scripts[0]!;
}

/**
 * The Elixir minor the app asks for: app.yaml `runtime: elixir1NN`, else the lowest version mix.exs's
 * `elixir:` requirement allows ("~> 1.15" → 1.15), also for plain `runtime: elixir`; none without either.
 */
export function askedElixirVersion(runtime: string | undefined, mixExs: string): string | undefined {
  const fromRuntime = /^elixir1(\d+)$/.exec(runtime ?? "");
  if (fromRuntime) return `1.${fromRuntime[1]}`;
  const requirement = /\belixir:\s*"([^"]*)"/.exec(mixExs)?.[1];
  const version = /(\d+)\.(\d+)/.exec(requirement ?? "");
  return version ? `${version[1]}.${version[2]}` : undefined;
}
