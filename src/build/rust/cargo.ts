import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import type { Layer } from "../../images/index.js";
import type { ImageBuildContext } from "../image-builder.js";
import { cachedLayer, dependencyCacheRef, hashTree, runStep, runStepLayer, sha256, storeCachedLayer, type StepLayerOptions } from "../buildpack/layers.js";
import { sharedLibraries, type SharedLibrary } from "../buildpack/native-libs.js";
import { readIfExists } from "../buildpack/source.js";
import type { BuildStep } from "../buildpack/step.js";

/**
 * `cargo build --release --locked` for a Rust app. Crates come from crates.io through the step's outbound
 * network, or, for an app with vendor/ (and the .cargo/config.toml `cargo vendor` prints), from vendor/
 * with no network at all. The crates cargo downloaded (CARGO_HOME) and the compiled dependencies
 * (the target dir) are one cached layer keyed by Cargo.lock: a build with an unchanged lock file runs over
 * it offline and recompiles only the app's own crate.
 */

const DEPS_RECIPE_VERSION = 1;
const TARGET = "/target";
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/** The source is copied to a fixed scratch path (tmpfs, not in the layer): cargo's fingerprints name it. */
const BUILD_SCRIPT = `set -e
mkdir -p /tmp/build
cp -a /workspace/. /tmp/build/
rm -rf /tmp/build/target
cd /tmp/build
exec cargo build --release --locked "$@"
`;

export interface CargoBuild {
  /** Host path of the built binary (copied out of the step). */
  binary: string;
  libraries: SharedLibrary[];
  /** The step's rootfs is gone after the build: the libraries (at their `real` paths) and the CA bundle are copied under `libsDir`. */
  libsDir: string;
  cached: boolean;
  /** The crates layer's cache ref, for the image's BUILD_CACHE_LABEL. */
  cacheRef: string;
}

export async function cargoBuild(ctx: ImageBuildContext, base: readonly Layer[], baseEnv: readonly string[], bin: string, outDir: string, vendored: boolean): Promise<CargoBuild> {
  const lock = (await readLock(ctx)) ?? "";
  const vendor = vendored ? await hashTree(join(ctx.sourceDir, "vendor")) : "";
  const key = sha256(String(DEPS_RECIPE_VERSION), base.map((l) => l.diffId).join(","), lock, vendor);
  const cacheRef = dependencyCacheRef("cargo-deps", key);
  const hit = await cachedLayer(ctx.layout, cacheRef);
  await mkdir(join(outDir, "libs"), { recursive: true });
  const result = { binary: join(outDir, bin), libraries: [] as SharedLibrary[], libsDir: join(outDir, "libs"), cached: false, cacheRef };
  const build = async (step: BuildStep, offline: boolean): Promise<void> => {
    try {
      await step.run({ argv: ["/bin/sh", "-c", BUILD_SCRIPT, "cargo", ...(offline ? ["--offline"] : [])], cwd: "/" });
    } catch (err) {
      throw buildFailed(String((err as StrataError).details?.["stderr"] ?? (err as Error).message), err, vendored);
    }
    const inImage = `${TARGET}/release/${bin}`;
    await copyFile(join(step.rootfs, inImage), result.binary).catch((err: unknown) => {
      throw new StrataError("BUILD_FAILED", `cargo built no binary named ${bin} (target/release/${bin}): name one of the package's [[bin]] targets in app.yaml entrypoint`, { bin }, { cause: err });
    });
    result.libraries = await sharedLibraries(step, inImage);
    for (const file of [...result.libraries.map((l) => l.real), CA_BUNDLE]) {
      await mkdir(join(result.libsDir, file, ".."), { recursive: true });
      await copyFile(join(step.rootfs, file), join(result.libsDir, file));
    }
  };
  if (hit) {
    ctx.log(`dependencies: reusing the compiled crates layer ${hit.descriptor.digest.slice(0, 19)} (Cargo.lock unchanged); building offline`);
    try {
      await runStep(ctx, options(ctx, [...base, hit], baseEnv, outDir, "none"), (step) => build(step, true));
      return { ...result, cached: true };
    } catch (err) {
      if (!/--offline|offline mode|failed to download/i.test(String((err as StrataError).details?.["output"] ?? ""))) throw err;
      ctx.log("the cached crates lack one this build needs; fetching again");
    }
  } else {
    ctx.log(vendored ? "dependencies: building the crates in vendor/ (offline)" : "dependencies: fetching the crates Cargo.lock pins from crates.io");
  }
  const layer = await runStepLayer(ctx, options(ctx, base, baseEnv, outDir, vendored ? "none" : "outbound"), (step) => build(step, vendored));
  await storeCachedLayer(ctx.layout, cacheRef, base, layer);
  return result;
}

async function readLock(ctx: ImageBuildContext): Promise<string | null> {
  return readIfExists(join(ctx.sourceDir, "Cargo.lock"));
}

function options(ctx: ImageBuildContext, below: readonly Layer[], baseEnv: readonly string[], outDir: string, network: "none" | "outbound"): StepLayerOptions {
  return {
    purpose: "cargo",
    below,
    mounts: [
      { source: ctx.sourceDir, destination: "/workspace", readonly: true },
      { source: outDir, destination: "/out", readonly: false },
    ],
    network,
    // The image's env names CARGO_HOME (kept in the layer with the target dir). Debian's gcc is linked as
    // gcc, with no `cc` alternative in a minbase image: rustc and the cc crate are told so.
    env: [...baseEnv, `CARGO_TARGET_DIR=${TARGET}`, "CARGO_TERM_COLOR=never", "CARGO_TERM_PROGRESS_WHEN=never", "CARGO_INCREMENTAL=0", "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=gcc", "CC=gcc"],
  };
}

function buildFailed(output: string, cause: unknown, vendored: boolean): StrataError {
  const todo = /--locked was passed|lock file .* needs to be updated|cannot update the lock file/i.test(output)
    ? "Cargo.lock does not match Cargo.toml: run `cargo generate-lockfile` (or `cargo build`) in the app's folder and deploy it with the updated Cargo.lock"
    : vendored
      ? "vendor/ must hold every crate Cargo.lock names, and .cargo/config.toml must point crates.io at it: run `cargo vendor > .cargo/config.toml` in the app's folder (it prints that config) and deploy again"
      : "run `cargo build --release --locked` in the app's folder and fix what it reports";
  return new StrataError("BUILD_FAILED", `cargo build failed:\n${output.trim()}\nTo fix: ${todo}.`, { output }, { cause });
}
