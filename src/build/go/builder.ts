import { randomBytes } from "node:crypto";
import { mkdir, rm, stat } from "node:fs/promises";
import { join, normalize } from "node:path";
import { StrataError } from "../../errors.js";
import { chooseLanguageImage, describeChoice, imagePaths, RUNS_LABEL, runtimeId, unpackLayerList } from "../../images/index.js";
import type { ImageBuild, ImageBuildContext, ImageBuildResult } from "../image-builder.js";
import { APP_USER, writeAppImage } from "../buildpack/app-image.js";
import { layersOf } from "../buildpack/layers.js";
import { exists, readIfExists } from "../buildpack/source.js";
import { BuildStep } from "../buildpack/step.js";
import { stepWorkDir } from "../buildpack/work-dirs.js";
import { missingModules } from "./missing-modules.js";
import { CA_BUNDLE, runImageLayer, SERVER } from "./run-image.js";


/** Shell syntax a Go run image cannot honour: it has no shell. */
const SHELL_SYNTAX = /[|&;<>()$`\\"'*?[\]#~{}]/;

/**
 * Go apps without a Dockerfile, built as App Engine's Go runtime builds them: the main package at the module
 * root, or app.yaml `main:` (a package path relative to it, e.g. ./cmd/web). The toolchain is the one
 * app.yaml `runtime: go1NN` names (else go.mod's `go` line picks; language-image.ts: the nearest newer
 * where no Debian suite has that minor), never another one fetched at build time (GOTOOLCHAIN=local).
 * Modules come from the app's vendor/ folder when it has one (offline, `-mod=vendor`), else from the Go
 * module proxy (config.yaml `go.proxy`) through the build's outbound-only network, checked against go.sum.
 * CGO_ENABLED=0 for a static binary; the build and module caches live under STRATA_HOME/builds/go-cache.
 * The run image is one small layer (run-image.ts): the binary, CA certificates, passwd/group naming
 * nobody, /tmp; it runs as nobody with no shell and no toolchain.
 */
export class GoBuilder implements ImageBuild {
  readonly name = "go";

  async build(ctx: ImageBuildContext): Promise<ImageBuildResult> {
    const goMod = await readIfExists(join(ctx.sourceDir, "go.mod"));
    if (goMod === null) {
      throw new StrataError("BUILD_FAILED", "a Go app needs a go.mod at its root: run `go mod init <module path>` in the app's folder");
    }
    const pkg = await mainPackage(ctx.sourceDir, ctx.spec.main);
    const entrypoint = entrypointArgv(ctx.spec.entrypoint);
    const vendored = await exists(join(ctx.sourceDir, "vendor", "modules.txt"));
    const asked = askedGoVersion(ctx.spec.runtime, goMod);
    const choice = chooseLanguageImage("go", asked);
    const baseRef = await ctx.catalog.ensure(choice.recipe.name, ctx.log);
    const base = await ctx.layout.resolve(baseRef.ref ?? baseRef.digest);
    const packages = base.config.config.Labels?.["dev.strata.packages"] ?? "golang-go";
    const runs = describeChoice(choice, base.config.config.Labels?.[RUNS_LABEL]);
    const runtime = ctx.spec.runtime ?? runtimeId("go", choice.recipe.runs.version);
    ctx.log(`${ctx.spec.runtime ? `runtime ${runtime}` : asked ? `go.mod's go ${asked}` : "no Go version stated"}: ${runs}`);
    const proxy = vendored ? undefined : ctx.goProxy;
    ctx.log(`main package ${pkg}; modules ${vendored ? "from vendor/" : proxy ? `from ${proxy}` : "offline (no module proxy configured)"}; CGO_ENABLED=0`);

    const id = `${ctx.app}-${ctx.version}-go-${randomBytes(3).toString("hex")}`.replace(/[^A-Za-z0-9_.-]/g, "-");
    const work = stepWorkDir(ctx.home, id);
    const cache = join(ctx.home.builds, "go-cache");
    const cacheWarm = await exists(join(cache, "build", "README")); // go writes it when it first uses a cache dir
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
      network: proxy ? "outbound" : "none",
      env: [
        ...(base.config.config.Env ?? []),
        `GOPROXY=${proxy ?? "off"}`,
        // go.sum checks every module fetched; -mod=readonly adds no entry the checksum database would vouch for.
        "GOSUMDB=off",
        "GOTOOLCHAIN=local",
        `GOFLAGS=${vendored ? "-mod=vendor" : "-mod=readonly"}`,
        "CGO_ENABLED=0",
        "GOCACHE=/go-cache/build",
        "GOMODCACHE=/go-cache/mod",
        "GOPATH=/tmp/go",
        "GO111MODULE=on",
      ],
      log: ctx.log,
    });
    try {
      await step.mount();
      await compile(step, pkg, goMod, vendored, proxy, runtime);
      const layer = await runImageLayer(ctx.layout, join(work, "image"), join(work, "out", "server"), join(step.rootfs, CA_BUNDLE));
      const { image, sizeBytes } = await writeAppImage(ctx, [{ layer, createdBy: `go build ${pkg} (CGO_ENABLED=0, ${packages})` }], {
        Env: ["PORT=8080"],
        Entrypoint: entrypoint,
        WorkingDir: "/app",
        User: APP_USER,
        ExposedPorts: { "8080/tcp": {} },
        Labels: { "dev.strata.runtime": runtime, [RUNS_LABEL]: runs, "dev.strata.app": ctx.app, "dev.strata.version": ctx.version, "dev.strata.go.main": pkg },
      });
      ctx.log(`image ${image.ref} ${image.digest} (${(sizeBytes / 1e6).toFixed(1)} MB: ${SERVER} and CA certificates)`);
      return { image, runtime, runs, cached: { dependencies: cacheWarm }, sizeBytes };
    } finally {
      await step.discard();
      await rm(work, { recursive: true, force: true });
    }
  }
}

async function compile(step: BuildStep, pkg: string, goMod: string, vendored: boolean, proxy: string | undefined, runtime: string): Promise<void> {
  try {
    await step.run({ argv: ["go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", "/out/server", pkg], cwd: "/workspace" });
  } catch (err) {
    const output = String((err as StrataError).details?.stderr ?? (err as Error).message);
    const tooNew = /go\.mod requires go >= (\S+) \(running go (\S+);/.exec(output);
    if (tooNew) {
      throw new StrataError(
        "BUILD_FAILED",
        `go.mod asks for Go ${tooNew[1]}, newer than runtime ${runtime}'s Go ${tooNew[2]}. To fix: set app.yaml \`runtime:\` to a newer Go runtime (go${tooNew[1]!.split(".").slice(0, 2).join("")} or later), or leave it out so that go.mod's go line picks the toolchain.`,
        { output },
        { cause: err },
      );
    }
    if (/inconsistent vendoring/.test(output)) {
      throw new StrataError("BUILD_FAILED", `vendor/ does not match go.mod:\n${output.trim()}\nTo fix: run \`go mod vendor\` in the app's folder and deploy again.`, { output }, { cause: err });
    }
    if (/missing go\.sum entry/.test(output)) {
      throw new StrataError(
        "BUILD_FAILED",
        `go.sum lacks the checksums of modules the app needs:\n${output.trim()}\nTo fix: run \`go mod tidy\` in the app's folder and deploy it with its go.sum.`,
        { output },
        { cause: err },
      );
    }
    const modules = missingModules(output, goMod);
    if (modules.length) {
      const what = modules.length === 1 ? `module ${modules[0]}` : `modules ${modules.join(", ")}`;
      const why = vendored
        ? "vendor/ does not have it. To fix: run `go mod vendor` in the app's folder and deploy again"
        : proxy
          ? `the module proxy ${proxy} could not provide it:\n${output.trim()}\nTo fix: check the module path and version in go.mod, or vendor it (\`go mod vendor\`)`
          : "no module proxy is configured (config.yaml go.proxy: off). To fix: run `go mod vendor` in the app's folder (on a machine that can reach the module proxy) and deploy it with the vendor/ folder, or configure go.proxy";
      throw new StrataError("BUILD_FAILED", `the app needs ${what}, which the build could not get: ${why}.`, { modules, output }, { cause: err });
    }
    throw new StrataError("BUILD_FAILED", `go build ${pkg} failed:\n${output.trim()}`, { output }, { cause: err });
  }
}

/** The Go minor the app asks for: app.yaml `runtime: go1NN`, else go.mod's `go` line; none for plain `go`. */
export function askedGoVersion(runtime: string | undefined, goMod: string): string | undefined {
  const fromRuntime = /^go1(\d+)$/.exec(runtime ?? "");
  if (fromRuntime) return `1.${fromRuntime[1]}`;
  if (runtime !== undefined) return undefined;
  return /^go\s+(1\.\d+)/m.exec(goMod)?.[1];
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
