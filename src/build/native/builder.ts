import { randomBytes } from "node:crypto";
import { access, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { imagePaths, type Layer, unpackLayerList } from "../../images/index.js";
import { exec } from "../../system/exec.js";
import { BUILD_CACHE_LABEL, type ImageBuild, type ImageBuildContext, type ImageBuildResult } from "../image-builder.js";
import { mergeEnv, writeBuildpackImage } from "../buildpack/app-image.js";
import { startCommand } from "../buildpack/entrypoint.js";
import { cachedLayer, dependencyCacheRef, layersOf, runStep, runStepLayer, sha256, storeCachedLayer } from "../buildpack/layers.js";
import { sharedLibraries, underUsr, type SharedLibrary } from "../buildpack/native-libs.js";
import type { BuildStep } from "../buildpack/step.js";
import { stepWorkDir } from "../buildpack/work-dirs.js";
import { detectBuildSystem } from "./build-system.js";

/** The image C and C++ apps build in (the toolchain), and the one they run on (Debian minbase, same suite). */
const BUILD_IMAGE = "native";
const RUN_IMAGE = "debian";
const PACKAGES_RECIPE_VERSION = 1;

/**
 * C and C++ apps: built with CMake, Meson or Make (build-system.ts) in the `native` image, after the
 * Debian packages app.yaml `build_packages:` lists (the -dev ones) are installed (a layer cached by that
 * list). The app's folder, built in place, becomes /app on the `debian` image, with the shared libraries
 * its binary loads that the run image lacks (found with ldd in the build image: the runtime side of the
 * -dev packages). app.yaml `entrypoint` names the binary (`./server`), run by /bin/sh in /app; the app
 * reads PORT.
 */
export class NativeBuilder implements ImageBuild {
  readonly name = "native";

  async build(ctx: ImageBuildContext): Promise<ImageBuildResult> {
    const system = await detectBuildSystem(ctx.sourceDir);
    const command = ctx.spec.entrypoint?.trim();
    if (!command) throw new StrataError("INVALID_CONFIG", "a C or C++ app needs app.yaml `entrypoint:` naming the binary its build makes, like `./server` (relative to the app's folder)");
    const start = await startCommand(ctx.sourceDir, ctx.spec, "");
    const binary = binaryOf(command);
    const runtime = ctx.spec.runtime ?? "c";
    const packages = [...(ctx.spec.build_packages ?? [])].sort();
    const buildRef = await ctx.catalog.ensure(BUILD_IMAGE, ctx.log);
    const runRef = await ctx.catalog.ensure(RUN_IMAGE, ctx.log);
    const buildImage = await ctx.layout.resolve(buildRef.ref ?? buildRef.digest);
    const runImage = await ctx.layout.resolve(runRef.ref ?? runRef.digest);
    ctx.log(`${system.name} (${system.file}) with ${buildImage.config.config.Labels?.["dev.strata.packages"] ?? BUILD_IMAGE}${packages.length ? `; build packages: ${packages.join(" ")}` : ""}; runs ${binary}`);

    const env = buildImage.config.config.Env ?? [];
    const buildPackages = packages.length ? await buildPackagesLayer(ctx, layersOf(buildImage), env, packages) : undefined;
    const below = [...layersOf(buildImage), ...(buildPackages ? [buildPackages.layer] : [])];
    const work = stepWorkDir(ctx.home, `${ctx.app}-${ctx.version}-native-${randomBytes(3).toString("hex")}`.replace(/[^A-Za-z0-9_.-]/g, "-"));
    try {
      const staging = join(work, "layer");
      await mkdir(staging, { recursive: true, mode: 0o755 });
      const runRoots = await unpackLayerList(ctx.layout, layersOf(runImage).map((l) => l.descriptor), imagePaths(ctx.home).unpacked);
      let copied: SharedLibrary[] = [];
      await runStep(ctx, { purpose: "native", below, mounts: [{ source: ctx.sourceDir, destination: "/workspace", readonly: true }], network: "none", env }, async (step) => {
        await compile(step, system.commands);
        const inImage = `/app/${binary.replace(/^\.\//, "")}`;
        if (!(await present(join(step.rootfs, inImage)))) {
          throw new StrataError("BUILD_FAILED", `the build made no ${binary} (app.yaml entrypoint's binary, relative to the app's folder): check the entrypoint against what ${system.file} builds`);
        }
        copied = await missingFrom(runRoots, await sharedLibraries(step, inImage));
        await exec(["cp", "-a", join(step.rootfs, "app"), join(staging, "app")]);
        for (const lib of copied) {
          const target = join(staging, underUsr(lib.path));
          await mkdir(join(target, ".."), { recursive: true });
          await exec(["cp", "-L", join(step.rootfs, lib.real), target]);
        }
      });
      ctx.log(copied.length ? `libraries the run image lacks, copied from the build image: ${copied.map((l) => l.path).join(", ")}` : "the run image has every library the binary loads");
      const layer = await ctx.layout.addLayerFromDir(staging);
      const runLayers = layersOf(runImage);
      const { image, sizeBytes } = await writeBuildpackImage(
        ctx,
        [...runLayers.map((l) => ({ layer: l, createdBy: `base image ${runRef.ref}` })), { layer, createdBy: `${system.name} build in /app, ${copied.length} shared libraries` }],
        runtime,
        mergeEnv(runImage.config.config.Env ?? [], ["PORT=8080"]),
        start.entrypoint,
        buildPackages ? { [BUILD_CACHE_LABEL]: buildPackages.cacheRef } : {},
      );
      return { image, runtime, cached: { dependencies: buildPackages?.cached ?? false }, sizeBytes };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** The entrypoint's program: its first word after any VAR=value assignments (and an `exec`). */
export function binaryOf(command: string): string {
  const words = command.split(/\s+/).filter((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w) && w !== "exec");
  const first = words[0] ?? "";
  if (!/^(\.\/|\/app\/)?[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/.test(first) || first.includes("..")) {
    throw new StrataError("INVALID_CONFIG", `app.yaml entrypoint "${command}" must start with the binary the build makes, as a path in the app's folder like ./server or build/server`);
  }
  return first.startsWith("/app/") ? `./${first.slice("/app/".length)}` : first.startsWith("./") ? first : `./${first}`;
}

async function compile(step: BuildStep, commands: readonly string[]): Promise<void> {
  await step.run({ argv: ["/bin/sh", "-c", "cp -a /workspace/. /app/"], cwd: "/" });
  for (const c of commands) {
    try {
      await step.run({ argv: ["/bin/sh", "-c", c], cwd: "/app" });
    } catch (err) {
      const output = String((err as StrataError).details?.["stderr"] ?? (err as Error).message);
      throw new StrataError("BUILD_FAILED", `\`${c}\` failed:\n${output.trim()}\nTo fix: build the app with the same command on Debian 12; a missing header means a -dev package to list in app.yaml build_packages`, { output }, { cause: err });
    }
  }
}

/** Debian packages installed over the build image with apt, cached by the sorted package list. */
async function buildPackagesLayer(
  ctx: ImageBuildContext,
  base: readonly Layer[],
  env: readonly string[],
  packages: readonly string[],
): Promise<{ layer: Layer; cacheRef: string; cached: boolean }> {
  const cacheRef = dependencyCacheRef("native-packages", sha256(String(PACKAGES_RECIPE_VERSION), base.map((l) => l.diffId).join(","), packages.join(" ")));
  const hit = await cachedLayer(ctx.layout, cacheRef);
  if (hit) {
    ctx.log(`build packages: reusing cached layer ${hit.descriptor.digest.slice(0, 19)}`);
    return { layer: hit, cacheRef, cached: true };
  }
  const layer = await runStepLayer(ctx, { purpose: "apt", below: base, mounts: [], network: "outbound", env: [...env, "DEBIAN_FRONTEND=noninteractive"] }, async (step) => {
    try {
      await step.run({ argv: ["apt-get", "update", "-q"], cwd: "/" });
      await step.run({ argv: ["apt-get", "install", "-y", "-q", "--no-install-recommends", ...packages], cwd: "/" });
    } catch (err) {
      const output = String((err as StrataError).details?.["stderr"] ?? (err as Error).message);
      throw new StrataError("BUILD_FAILED", `apt-get could not install app.yaml build_packages (${packages.join(" ")}):\n${output.trim()}\nTo fix: name Debian 12 packages (apt-cache search NAME)`, { output }, { cause: err });
    }
    await step.run({ argv: ["/bin/sh", "-c", "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log"], cwd: "/" });
  });
  await storeCachedLayer(ctx.layout, cacheRef, base, layer);
  return { layer, cacheRef, cached: false };
}

/** The libraries whose path no layer of the run image has. */
async function missingFrom(runRoots: readonly string[], libs: readonly SharedLibrary[]): Promise<SharedLibrary[]> {
  const out: SharedLibrary[] = [];
  for (const lib of libs) {
    let found = false;
    for (const root of runRoots) if ((await present(join(root, underUsr(lib.path)))) || (await present(join(root, lib.real)))) found = true;
    if (!found) out.push(lib);
  }
  return out;
}

async function present(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false, // absent (or unreadable, which a root build does not meet)
  );
}
