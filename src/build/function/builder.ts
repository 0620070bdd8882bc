import { randomBytes } from "node:crypto";
import { chmod, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build as esbuild, type Message } from "esbuild";
import { StrataError } from "../../errors.js";
import { FUNCTION_RUNTIMES, functionOf, type FunctionFamily } from "../../config/index.js";
import { mergeEnv, writeAppImage, APP_USER, type DescribedLayer } from "../buildpack/app-image.js";
import { layersOf } from "../buildpack/layers.js";
import { copySource, exists } from "../buildpack/source.js";
import { stepWorkDir } from "../buildpack/work-dirs.js";
import type { ImageBuild, ImageBuildContext, ImageBuildResult } from "../image-builder.js";
import { RUBY_BOOTSTRAP } from "./runtimes/ruby-bootstrap.js";

/** Where Lambda puts a function's code, and where Strata's runtime client lives beside it. */
export const TASK_ROOT = "/var/task";
const RUNTIME_DIR = "/opt/strata";

const ENTRYPOINT: Readonly<Record<FunctionFamily, string[]>> = {
  nodejs: ["node", `${RUNTIME_DIR}/bootstrap.mjs`],
  ruby: ["ruby", `${RUNTIME_DIR}/bootstrap.rb`],
  // Lambda's custom runtimes: the package's own `bootstrap` is the runtime.
  provided: [`${TASK_ROOT}/bootstrap`],
};

/**
 * A function's image, as Lambda lays one out: the runtime's base image (nodejs20/nodejs22 with the
 * official Node build, Debian's Ruby 3.3 from trixie, or plain Debian for `provided`), the code under
 * /var/task, and for nodejs and ruby Strata's runtime client under /opt/strata as the entrypoint; a
 * `provided` function's `bootstrap` is its own entrypoint. A TypeScript handler (`index.handler` with an
 * index.ts and no index.js) is bundled by esbuild into index.mjs beside it, with its imports.
 */
export class FunctionBuilder implements ImageBuild {
  readonly name = "function";

  async build(ctx: ImageBuildContext): Promise<ImageBuildResult> {
    const fn = functionOf(ctx.spec as Record<string, unknown>);
    if (!fn) throw new StrataError("INTERNAL", "a function build needs a function.yaml spec");
    const rt = FUNCTION_RUNTIMES[fn.runtime];
    const baseRef = await ctx.catalog.ensure(rt.image, ctx.log);
    const base = await ctx.layout.resolve(baseRef.ref ?? baseRef.digest);
    const described: DescribedLayer[] = layersOf(base).map((layer) => ({ layer, createdBy: `base image ${baseRef.ref}` }));
    const staging = stepWorkDir(ctx.home, `${ctx.app}-${ctx.version}-fn-${randomBytes(3).toString("hex")}`);
    try {
      const task = join(staging, TASK_ROOT.slice(1));
      await copySource(ctx.sourceDir, task, [".git"]);
      const runtimeDir = join(staging, RUNTIME_DIR.slice(1));
      await mkdir(runtimeDir, { recursive: true, mode: 0o755 });
      if (rt.family === "nodejs") {
        await bundleTypeScriptHandler(ctx, task, fn.handler);
        await bundleNodeBootstrap(join(runtimeDir, "bootstrap.mjs"));
      } else if (rt.family === "ruby") {
        await writeFile(join(runtimeDir, "bootstrap.rb"), RUBY_BOOTSTRAP, { mode: 0o444 });
      } else {
        await checkBootstrap(join(task, "bootstrap"));
      }
      const layer = await ctx.layout.addLayerFromDir(staging);
      described.push({ layer, createdBy: `function code in ${TASK_ROOT}${rt.family === "provided" ? "" : `, Strata's ${rt.family} runtime client in ${RUNTIME_DIR}`}` });
      const baseEnv = base.config.config.Env ?? [];
      const { image, sizeBytes } = await writeAppImage(ctx, described, {
        Env: mergeEnv(baseEnv, [`LAMBDA_TASK_ROOT=${TASK_ROOT}`, `LAMBDA_RUNTIME_DIR=${RUNTIME_DIR}`, "LANG=en_US.UTF-8", "TZ=:UTC"]),
        Entrypoint: ENTRYPOINT[rt.family],
        WorkingDir: TASK_ROOT,
        User: APP_USER,
        Labels: { "dev.strata.runtime": fn.runtime, "dev.strata.function": ctx.app, "dev.strata.version": ctx.version },
      });
      ctx.log(`image ${image.ref} ${image.digest} (${(sizeBytes / 1e6).toFixed(1)} MB, runtime ${rt.aws}, handler ${fn.handler})`);
      return { image, runtime: fn.runtime, cached: { dependencies: false }, sizeBytes };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}

/** `index.handler` with index.ts (or .mts/.cts) and no JavaScript file of that name: bundled by esbuild to index.mjs. */
async function bundleTypeScriptHandler(ctx: ImageBuildContext, task: string, handler: string): Promise<void> {
  const file = handler.slice(0, handler.lastIndexOf("."));
  for (const js of [".js", ".mjs", ".cjs"]) if (await exists(join(task, file + js))) return;
  let entry: string | undefined;
  for (const ts of [".ts", ".mts", ".cts"]) if (await exists(join(task, file + ts))) entry = join(task, file + ts);
  if (!entry) {
    throw new StrataError("BUILD_FAILED", `handler ${handler}: there is no ${file}.js, .mjs, .cjs or .ts in the function's folder; name the file and its export, like index.handler for index.js exporting handler`);
  }
  ctx.log(`bundling ${file}${entry.slice(entry.lastIndexOf("."))} with esbuild into ${file}.mjs`);
  const out = await esbuild({
    entryPoints: [entry],
    outfile: join(task, `${file}.mjs`),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // A CommonJS dependency's require() inside an ES module bundle needs a require of its own.
    banner: { js: 'import { createRequire as __strataCreateRequire } from "node:module"; const require = __strataCreateRequire(import.meta.url);' },
    logLevel: "silent",
  }).catch((err: { errors?: Message[] }) => {
    throw new StrataError("BUILD_FAILED", `esbuild could not bundle ${handler}:\n${(err.errors ?? []).map((e) => (e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text)).join("\n")}`);
  });
  for (const w of out.warnings) ctx.log(`warning: ${w.text}`);
  await chmod(join(task, `${file}.mjs`), 0o444);
}

/** The runtime client, from this package's TypeScript (or its compiled JavaScript), bundled into one file. */
async function bundleNodeBootstrap(outfile: string): Promise<void> {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  await esbuild({ entryPoints: [fileURLToPath(new URL(`./runtimes/node-bootstrap${ext}`, import.meta.url))], outfile, bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "silent" });
  await chmod(outfile, 0o444);
}

async function checkBootstrap(path: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) throw new StrataError("BUILD_FAILED", "a `provided` function needs an executable named bootstrap at the root of its folder (for Rust: cargo lambda build, or cargo build with a [[bin]] named bootstrap, and copy target/release/bootstrap here)");
  if (!(st.mode & 0o111)) await chmod(path, st.mode | 0o555);
}
