import { randomBytes } from "node:crypto";
import { mkdir, rm, stat } from "node:fs/promises";
import { join, normalize } from "node:path";
import { StrataError } from "../../errors.js";
import { imagePaths } from "../../images/catalog.js";
import { unpackLayerList } from "../../images/unpack.js";
import type { AppYamlLike, Builder, BuildContext, BuildResult } from "../builder.js";
import { APP_USER, writeAppImage } from "../buildpack/app-image.js";
import { layersOf } from "../buildpack/layers.js";
import { exists, readIfExists } from "../buildpack/source.js";
import { BuildStep } from "../buildpack/step.js";
import { stepWorkDir } from "../buildpack/work-dirs.js";
import { missingModules } from "./missing-modules.js";
import { CA_BUNDLE, runImageLayer, SERVER } from "./run-image.js";

/** Debian 12's golang-go is Go 1.19: the runtime a Go app gets when app.yaml names none. */
const DEFAULT_RUNTIME = "go119";
const TOOLCHAIN_MINOR = "19";

/** Shell syntax a Go run image cannot honour: it has no shell. */
const SHELL_SYNTAX = /[|&;<>()$`\\"'*?[\]#~{}]/;

/**
 * Go apps without a Dockerfile, built as App Engine's Go runtime builds them: the main package at the module
 * root, or app.yaml `main:` (a package path relative to it, e.g. ./cmd/web). `go build` runs in the golang
 * base image's userland with no network (GOPROXY=off; `-mod=vendor` when the app has a vendor/ folder),
 * CGO_ENABLED=0 for a static binary, and a build cache kept under STRATA_HOME/builds/go-cache. The run image
 * is one small layer (run-image.ts): the binary, CA certificates, passwd/group naming nobody, /tmp; it
 * runs as nobody with no shell and no toolchain.
 */
export class GoBuilder implements Builder {
  readonly name = "go";

  async detect(dir: string, spec: AppYamlLike): Promise<boolean> {
    if (spec.runtime) return /^go(1\d+)?$/.test(spec.runtime);
    return exists(join(dir, "go.mod"));
  }

  async build(ctx: BuildContext): Promise<BuildResult> {
    const goMod = await readIfExists(join(ctx.sourceDir, "go.mod"));
    if (goMod === null) {
      throw new StrataError("BUILD_FAILED", "a Go app needs a go.mod at its root: run `go mod init <module path>` in the app's folder");
    }
    const runtime = ctx.spec.runtime ?? DEFAULT_RUNTIME;
    const pkg = await mainPackage(ctx.sourceDir, ctx.spec.main);
    const entrypoint = entrypointArgv(ctx.spec.entrypoint);
    const vendored = await exists(join(ctx.sourceDir, "vendor", "modules.txt"));
    const baseRef = await ctx.catalog.ensure("golang", ctx.log);
    const base = await ctx.layout.resolve(baseRef.ref ?? baseRef.digest);
    const packages = base.config.config.Labels?.["dev.strata.packages"] ?? "golang-go";
    const wanted = /^go1(\d+)$/.exec(runtime)?.[1];
    if (wanted && wanted !== TOOLCHAIN_MINOR) ctx.log(`note: runtime ${runtime} asks for Go 1.${wanted}; the toolchain is Debian 12's Go 1.${TOOLCHAIN_MINOR} (${packages})`);
    ctx.log(`main package ${pkg}${vendored ? ", dependencies from vendor/" : ""}; building offline with CGO_ENABLED=0`);

    const id = `${ctx.app}-${ctx.version}-go-${randomBytes(3).toString("hex")}`.replace(/[^A-Za-z0-9_.-]/g, "-");
    const work = stepWorkDir(ctx.home, id);
    const cache = join(ctx.home.builds, "go-cache");
    const cacheWarm = await exists(join(cache, "README")); // go writes it when it first uses a cache dir
    await mkdir(join(work, "out"), { recursive: true, mode: 0o755 });
    await mkdir(cache, { recursive: true, mode: 0o700 });
    const lowerDirs = await unpackLayerList(ctx.layout, layersOf(base).map((l) => l.descriptor), imagePaths(ctx.home).unpacked);
    const step = new BuildStep({
      id,
      lowerDirs,
      workDir: join(work, "step"),
      mounts: [
        { source: ctx.sourceDir, destination: "/workspace", readonly: true },
        { source: join(work, "out"), destination: "/out", readonly: false },
        { source: cache, destination: "/go-cache", readonly: false },
      ],
      network: "none",
      env: [
        ...(base.config.config.Env ?? []),
        "GOPROXY=off",
        "GOSUMDB=off",
        `GOFLAGS=${vendored ? "-mod=vendor" : "-mod=readonly"}`,
        "CGO_ENABLED=0",
        "GOCACHE=/go-cache",
        "GOPATH=/tmp/go",
        "GO111MODULE=on",
      ],
      log: ctx.log,
    });
    try {
      await step.mount();
      await compile(step, pkg, goMod, vendored);
      const layer = await runImageLayer(ctx.layout, join(work, "image"), join(work, "out", "server"), join(step.rootfs, CA_BUNDLE));
      const { image, sizeBytes } = await writeAppImage(ctx, [{ layer, createdBy: `go build ${pkg} (CGO_ENABLED=0, ${packages})` }], {
        Env: ["PORT=8080"],
        Entrypoint: entrypoint,
        WorkingDir: "/app",
        User: APP_USER,
        ExposedPorts: { "8080/tcp": {} },
        Labels: { "dev.strata.runtime": runtime, "dev.strata.app": ctx.app, "dev.strata.version": ctx.version, "dev.strata.go.main": pkg },
      });
      ctx.log(`image ${image.ref} ${image.digest} (${(sizeBytes / 1e6).toFixed(1)} MB: ${SERVER} and CA certificates)`);
      return { image, runtime, cached: { dependencies: cacheWarm }, sizeBytes };
    } finally {
      await step.discard();
      await rm(work, { recursive: true, force: true });
    }
  }
}

async function compile(step: BuildStep, pkg: string, goMod: string, vendored: boolean): Promise<void> {
  try {
    await step.run({ argv: ["go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", "/out/server", pkg], cwd: "/workspace" });
  } catch (err) {
    const output = String((err as StrataError).details?.stderr ?? (err as Error).message);
    const modules = missingModules(output, goMod);
    if (/inconsistent vendoring/.test(output)) {
      throw new StrataError("BUILD_FAILED", `vendor/ does not match go.mod:\n${output.trim()}\nTo fix: run \`go mod vendor\` in the app's folder and deploy again.`, { output }, { cause: err });
    }
    if (modules.length) {
      const what = modules.length === 1 ? `module ${modules[0]}` : `modules ${modules.join(", ")}`;
      throw new StrataError(
        "BUILD_FAILED",
        `the app needs ${what}, which the build cannot fetch: Go apps are built offline (GOPROXY=off)${vendored ? " and vendor/ does not have it" : ""}. ` +
          "To fix: run `go mod vendor` in the app's folder (on a machine that can reach the module proxy) and deploy it with the vendor/ folder.",
        { modules, output },
        { cause: err },
      );
    }
    throw new StrataError("BUILD_FAILED", `go build ${pkg} failed:\n${output.trim()}`, { output }, { cause: err });
  }
}

/** app.yaml `main:` as a `./`-relative package path inside the module, checked to be a folder of the app. */
async function mainPackage(sourceDir: string, main: string | undefined): Promise<string> {
  if (!main) return ".";
  const rel = normalize(main.replace(/^\.\//, "")).replace(/\/$/, "");
  if (rel.startsWith("/") || rel === ".." || rel.startsWith("../") || !/^[A-Za-z0-9._\-/]+$/.test(rel)) {
    throw new StrataError("INVALID_CONFIG", `app.yaml main: "${main}" must be a package path inside the module, like ./cmd/web`);
  }
  const isDir = await stat(join(sourceDir, rel)).then(
    (s) => s.isDirectory(),
    () => false, // missing: reported below
  );
  if (!isDir) throw new StrataError("BUILD_FAILED", `app.yaml main: "${main}" is not a folder of the app`);
  return rel === "." ? "." : `./${rel}`;
}

/** app.yaml `entrypoint` as an argv (the run image has no shell to parse it); the binary by default. */
function entrypointArgv(entrypoint: string | undefined): string[] {
  const command = entrypoint?.trim();
  if (!command) return [SERVER];
  if (SHELL_SYNTAX.test(command)) {
    throw new StrataError(
      "INVALID_CONFIG",
      `app.yaml entrypoint "${command}" uses shell syntax, but a Go app's image has no shell: give a plain command such as \`${SERVER} -flag\`, or leave entrypoint out (the app reads $PORT itself)`,
    );
  }
  return command.split(/\s+/);
}
