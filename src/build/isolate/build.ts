import { createHash } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build as esbuild, type Message, type Plugin } from "esbuild";
import { StrataError } from "../../errors.js";
import { BUNDLE_MANIFEST_FILE, type BundleManifest } from "../../sandbox/index.js";
import { detect, isWasiCommand, type IsolateApp } from "./detect.js";
import { hasNodeCompat, lowerAsyncOutsideCompat, NODE_COMPAT_GLOBALS, nodeBuiltins, populatesProcessEnv } from "./node-compat.js";

export interface IsolateBuildOptions {
  /** Where the bundle directory is written (created; should be empty). */
  readonly outDir: string;
  /** Build progress, one line at a time. */
  readonly onLog?: (line: string) => void;
  /** The detection result, when the caller already ran detect(). */
  readonly app?: IsolateApp;
}

/** The built artifact: an ImageRef of kind "isolate-bundle" plus its manifest. */
export interface IsolateBundle {
  readonly kind: "isolate-bundle";
  readonly path: string;
  readonly digest: string;
  readonly manifest: BundleManifest;
}

const ENTRY_FILE = "worker.js";
/** `import mod from "./x.wasm"` stays an import of a file copied next to worker.js; the engine makes it a WebAssembly.Module. */
function wasmModules(outDir: string, names: Set<string>): Plugin {
  return {
    name: "strata-wasm-modules",
    setup(b) {
      b.onResolve({ filter: /\.wasm$/ }, async (args) => {
        const source = resolve(args.resolveDir, args.path);
        const bytes = await readFile(source);
        const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 12);
        const name = `${basename(source, ".wasm").replace(/[^\w.-]/g, "_")}-${hash}.wasm`;
        if (!names.has(name)) {
          await copyFile(source, join(outDir, name));
          names.add(name);
        }
        return { path: `./${name}`, external: true };
      });
    },
  };
}

function runtimeFile(name: string): string {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  return fileURLToPath(new URL(`./${name}${ext}`, import.meta.url));
}

function describe(errors: Message[]): string {
  return errors
    .map((e) => (e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text))
    .join("\n");
}

export async function build(dir: string, opts: IsolateBuildOptions): Promise<IsolateBundle> {
  const log = opts.onLog ?? (() => undefined);
  const app = opts.app ?? (await detect(dir));
  if (!app) throw new StrataError("BUILD_FAILED", `${dir} is not an isolate app (no wrangler config, app.yaml runtime, or worker entry)`);
  log(`isolate build: ${app.kind} from ${app.entry} (${app.reason})`);
  await mkdir(opts.outDir, { recursive: true });
  const wasmNames = new Set<string>();
  const compat = hasNodeCompat(app.compatibilityFlags);
  const usedCompat = new Set<string>();
  const common = {
    bundle: true,
    format: "esm" as const,
    platform: "neutral" as const,
    target: "es2022",
    outfile: join(opts.outDir, ENTRY_FILE),
    mainFields: ["workerd", "worker", "browser", "module", "main"],
    conditions: ["workerd", "worker", "browser"],
    absWorkingDir: resolve(dir),
    plugins: [nodeBuiltins({ compat, used: usedCompat }), wasmModules(opts.outDir, wasmNames)],
    ...(compat && { inject: [NODE_COMPAT_GLOBALS], define: { __STRATA_PROCESS_ENV__: String(populatesProcessEnv(app.compatibilityFlags, app.compatibilityDate)) } }),
    logLevel: "silent" as const,
    legalComments: "none" as const,
  };
  try {
    if (app.kind === "wasi-cgi") {
      if (!(await isWasiCommand(join(dir, app.entry)))) {
        throw new StrataError("BUILD_FAILED", `${app.entry} is not a WASI command (it must export _start and memory)`);
      }
      await esbuild({
        ...common,
        stdin: {
          contents: [
            `import program from ${JSON.stringify("./" + app.entry)};`,
            `import { serveWasiCgi } from ${JSON.stringify(runtimeFile("wasi-cgi-runtime"))};`,
            "export default { fetch: (request, env) => serveWasiCgi(program, request, env) };",
          ].join("\n"),
          resolveDir: resolve(dir),
          sourcefile: "strata-wasi-cgi-entry.js",
          loader: "js",
        },
      });
    } else {
      await esbuild({ ...common, entryPoints: [join(resolve(dir), app.entry)] });
      if (usedCompat.has("async_hooks")) {
        log("isolate build: the worker uses AsyncLocalStorage: async functions lowered so that its context follows every await");
        await esbuild({ ...common, entryPoints: [join(resolve(dir), app.entry)], plugins: [...common.plugins, lowerAsyncOutsideCompat(resolve(dir))] });
      }
      if (usedCompat.size > 0) log(`isolate build: nodejs_compat modules bundled: ${[...usedCompat].sort().map((m) => `node:${m}`).join(", ")}`);
    }
  } catch (err) {
    if (err instanceof StrataError) throw err;
    const errors = (err as { errors?: Message[] }).errors;
    const text = errors?.length ? describe(errors) : err instanceof Error ? err.message : String(err);
    throw new StrataError("BUILD_FAILED", `bundling ${app.entry} failed:\n${text}`, { entry: app.entry });
  }
  const manifest: BundleManifest = {
    format: "strata-isolate-bundle/1",
    entry: ENTRY_FILE,
    kind: app.kind,
    ...(app.name !== undefined ? { name: app.name } : {}),
    ...(app.compatibilityDate !== undefined ? { compatibilityDate: app.compatibilityDate } : {}),
    vars: app.vars,
    kvNamespaces: [...(app.kvNamespaces ?? [])],
    compatibilityFlags: [...(app.compatibilityFlags ?? [])],
    wasmModules: [...wasmNames].sort(),
  };
  await writeFile(join(opts.outDir, BUNDLE_MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
  const digest = await digestDir(opts.outDir);
  log(`isolate build: ${ENTRY_FILE} + ${manifest.wasmModules.length} wasm module(s), ${digest}`);
  return { kind: "isolate-bundle", path: opts.outDir, digest, manifest };
}

/** sha256 over the bundle's files (names and contents, in name order). */
async function digestDir(dir: string): Promise<string> {
  const h = createHash("sha256");
  for (const f of (await readdir(dir)).sort()) {
    h.update(f).update("\0").update(await readFile(join(dir, f))).update("\0");
  }
  return `sha256:${h.digest("hex")}`;
}

