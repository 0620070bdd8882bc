import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { chooseLanguageImage, compareVersions, describeChoice, RUNS_LABEL, runtimeId } from "../../images/index.js";
import { BUILD_CACHE_LABEL, type ImageBuild, type ImageBuildContext, type ImageBuildResult } from "../image-builder.js";
import { APP_USER, writeAppImage } from "../buildpack/app-image.js";
import { layersOf } from "../buildpack/layers.js";
import { nativeRunLayer } from "../buildpack/native-libs.js";
import { exists, readIfExists } from "../buildpack/source.js";
import { stepWorkDir } from "../buildpack/work-dirs.js";
import { cargoBuild } from "./cargo.js";
import { askedRustVersion, readCargoManifest } from "./manifest.js";

/** Shell syntax a Rust run image cannot honour: it has no shell. */
const SHELL_SYNTAX = /[|&;<>()$`\\"'*?[\]#~{}]/;

/**
 * crates.io's index is reachable only over the sparse protocol (its git index is not a package registry
 * a build reaches), which cargo uses from 1.68 on: an app that vendors nothing needs at least that.
 */
const SPARSE_INDEX_RUST = "1.68";

/**
 * Rust apps without a Dockerfile: `cargo build --release --locked` (cargo.ts) in the rust image of the
 * version asked for (app.yaml `runtime: rust1NN`, Cargo.toml `rust-version`, or what Cargo.lock's format
 * needs; the nearest newer where no Debian suite has it), and a minimal run image: the binary ([[bin]],
 * the package's name, or the first word of app.yaml `entrypoint`) under /app, the shared libraries it
 * loads, CA certificates; run as nobody, with no shell. The app reads PORT.
 */
export class RustBuilder implements ImageBuild {
  readonly name = "rust";

  async build(ctx: ImageBuildContext): Promise<ImageBuildResult> {
    const toml = await readIfExists(join(ctx.sourceDir, "Cargo.toml"));
    if (toml === null) throw new StrataError("BUILD_FAILED", "a Rust app needs a Cargo.toml at its root: run `cargo init` in the app's folder");
    const lock = await readIfExists(join(ctx.sourceDir, "Cargo.lock"));
    if (lock === null) {
      throw new StrataError("BUILD_FAILED", "a Rust app is built with `cargo build --locked`, which needs its Cargo.lock: run `cargo generate-lockfile` in the app's folder and deploy it with Cargo.lock");
    }
    const manifest = readCargoManifest(toml);
    const vendored = (await exists(join(ctx.sourceDir, "vendor"))) && ((await exists(join(ctx.sourceDir, ".cargo", "config.toml"))) || (await exists(join(ctx.sourceDir, ".cargo", "config"))));
    const stated = askedRustVersion(ctx.spec.runtime, manifest, lock);
    const asked = stated ?? (vendored ? undefined : SPARSE_INDEX_RUST);
    const choice = chooseLanguageImage("rust", asked);
    if (!vendored && compareVersions(choice.recipe.runs.version, SPARSE_INDEX_RUST) < 0) {
      throw new StrataError(
        "BUILD_FAILED",
        `runtime ${ctx.spec.runtime}'s cargo (Rust ${choice.recipe.runs.version}) reads crates.io only through its git index, which builds cannot reach (cargo ${SPARSE_INDEX_RUST} and later use the sparse index). To fix: vendor the crates (\`cargo vendor\`, with the .cargo/config.toml it prints) or use runtime rust185 or later`,
      );
    }
    const entrypoint = entrypointArgv(ctx.spec.entrypoint, manifest.bins);
    const bin = entrypoint[0]!.slice("/app/".length);
    const runtime = ctx.spec.runtime ?? runtimeId("rust", choice.recipe.runs.version);
    const baseRef = await ctx.catalog.ensure(choice.recipe.name, ctx.log);
    const base = await ctx.layout.resolve(baseRef.ref ?? baseRef.digest);
    const runs = describeChoice(choice, base.config.config.Labels?.[RUNS_LABEL]);
    const why = ctx.spec.runtime ? `runtime ${runtime}` : manifest.rustVersion ? `Cargo.toml's rust-version ${manifest.rustVersion}` : stated ? "Cargo.lock version 4 (cargo 1.78+)" : vendored ? "no Rust version stated" : `crates.io's sparse index (cargo ${SPARSE_INDEX_RUST}+)`;
    ctx.log(`${why}: ${runs}; binary ${bin}`);

    const work = stepWorkDir(ctx.home, `${ctx.app}-${ctx.version}-rust-${randomBytes(3).toString("hex")}`.replace(/[^A-Za-z0-9_.-]/g, "-"));
    try {
      await mkdir(join(work, "out"), { recursive: true, mode: 0o755 });
      const built = await cargoBuild(ctx, layersOf(base), base.config.config.Env ?? [], bin, join(work, "out"), vendored);
      const layer = await nativeRunLayer(ctx.layout, join(work, "image"), { binary: { from: built.binary, to: `/app/${bin}` }, rootfs: built.libsDir, libraries: built.libraries });
      const { image, sizeBytes } = await writeAppImage(ctx, [{ layer, createdBy: `cargo build --release --locked (${bin}, ${built.libraries.length} shared libraries)` }], {
        Env: ["PORT=8080", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
        Entrypoint: entrypoint,
        WorkingDir: "/app",
        User: APP_USER,
        ExposedPorts: { "8080/tcp": {} },
        Labels: { "dev.strata.runtime": runtime, [RUNS_LABEL]: runs, [BUILD_CACHE_LABEL]: built.cacheRef, "dev.strata.app": ctx.app, "dev.strata.version": ctx.version },
      });
      ctx.log(`image ${image.ref} ${image.digest} (${(sizeBytes / 1e6).toFixed(1)} MB: ${bin}, ${built.libraries.map((l) => l.path.split("/").pop()).join(", ") || "no shared libraries"}, CA certificates)`);
      return { image, runtime, runs, cached: { dependencies: built.cached }, sizeBytes };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** app.yaml `entrypoint` as an argv whose first word is one of the package's binaries; the only binary by default. */
function entrypointArgv(entrypoint: string | undefined, bins: readonly string[]): string[] {
  const command = entrypoint?.trim();
  if (!command) {
    if (bins.length > 1) throw new StrataError("INVALID_CONFIG", `Cargo.toml has several binaries (${bins.join(", ")}): set app.yaml \`entrypoint:\` to the one to run`);
    return [`/app/${bins[0]}`];
  }
  if (SHELL_SYNTAX.test(command)) {
    throw new StrataError("INVALID_CONFIG", `app.yaml entrypoint "${command}" uses shell syntax, but a Rust app's image has no shell: give the binary and its arguments (\`${bins[0]} --flag\`); the app reads $PORT itself`);
  }
  const [first, ...args] = command.split(/\s+/);
  const name = first!.replace(/^(\.\/|\/app\/)/, "");
  if (!bins.includes(name)) throw new StrataError("INVALID_CONFIG", `app.yaml entrypoint runs ${first}, which is not one of the package's binaries (${bins.join(", ")})`);
  return [`/app/${name}`, ...args];
}
