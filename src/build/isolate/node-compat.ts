import { builtinModules, createRequire } from "node:module";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { transform, type Loader, type Plugin } from "esbuild";

/**
 * Node.js built-in modules in a worker. Without a compatibility flag none exists (the build fails, naming
 * the module and the flag). With `nodejs_compat` (wrangler `compatibility_flags`), the modules Workers'
 * nodejs_compat offers that npm code needs most are bundled into the worker: well-kept npm implementations
 * of Node's own (assert, buffer, events, path-browserify, readable-stream for stream, string_decoder, util
 * with node-inspect-extracted), Node's own code in the engine over plain values (crypto's hashes, the
 * legacy url API: sandbox/isolate/engine/node-bridge.ts), and Strata's for what needs the isolate's event
 * loop (async_hooks, process). Only a worker that imports one gets it: the isolate's prelude stays as is. As under workerd with a
 * compatibility date from 2024-09-23 on, bare names work as well as `node:` ones, and `Buffer` and
 * `process` are globals.
 */
export const NODE_COMPAT_FLAGS = ["nodejs_compat", "nodejs_compat_v2"] as const;

export function hasNodeCompat(flags: readonly string[] | undefined): boolean {
  return (flags ?? []).some((f) => (NODE_COMPAT_FLAGS as readonly string[]).includes(f));
}

/**
 * Whether process.env holds the worker's text bindings, as workerd decides it: on from compatibility date
 * 2025-04-01 (nodejs_compat_populate_process_env), unless nodejs_compat_do_not_populate_process_env.
 */
export function populatesProcessEnv(flags: readonly string[] | undefined, compatibilityDate: string | undefined): boolean {
  const f = flags ?? [];
  if (f.includes("nodejs_compat_populate_process_env")) return true;
  if (f.includes("nodejs_compat_do_not_populate_process_env")) return false;
  return compatibilityDate !== undefined && compatibilityDate >= "2025-04-01";
}

const require = createRequire(import.meta.url);
const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

function runtime(name: string): string {
  return fileURLToPath(new URL(`./node-compat/${name}${ext}`, import.meta.url));
}

/** Each module nodejs_compat provides, and the file that implements it. */
const COMPAT_MODULES: Record<string, () => string> = {
  assert: () => runtime("assert"),
  "assert/strict": () => runtime("assert-strict"),
  async_hooks: () => runtime("async-hooks"),
  buffer: () => runtime("buffer"),
  crypto: () => runtime("crypto"),
  events: () => runtime("events"),
  path: () => runtime("path"),
  "path/posix": () => runtime("path"),
  process: () => runtime("process"),
  // readable-stream's browser entry: its Node entry re-exports Node's own stream module.
  stream: () => require.resolve("readable-stream/lib/ours/browser.js"),
  "stream/promises": () => require.resolve("readable-stream/lib/stream/promises.js"),
  string_decoder: () => runtime("string-decoder"),
  url: () => runtime("url"),
  util: () => runtime("util"),
  "util/types": () => runtime("util-types"),
};

export const NODE_COMPAT_MODULES = Object.keys(COMPAT_MODULES).sort();

/** The `Buffer` and `process` globals, injected into a nodejs_compat bundle. */
export const NODE_COMPAT_GLOBALS = runtime("globals");

/**
 * The packages above reach some dependencies by their browser entries (the package.json "browser" field,
 * which esbuild applies only when bundling for browsers): the Node entries would pull in polyfills of
 * what the isolate has (AbortController) or Node's own modules.
 */
const BROWSER_ENTRIES: Record<string, () => string> = {
  "abort-controller": () => require.resolve("abort-controller/browser.js"),
  // inherits' Node entry requires Node's util, which here is node-compat/util.ts requiring inherits.
  inherits: () => require.resolve("inherits/inherits_browser.js"),
};

/**
 * Where the compat implementations live: Strata's own modules and packages (the npm implementations and
 * their dependencies), never the app's. Their imports of built-ins always mean the compat modules.
 */
const COMPAT_ROOTS = [dirname(dirname(require.resolve("buffer/package.json"))) + sep, dirname(runtime("process")) + sep];

const NODE_BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith("_")));

function bareName(spec: string): string {
  return spec.replace(/^node:/, "").replace(/\/$/, "");
}

function isNodeBuiltin(spec: string): boolean {
  return spec.startsWith("node:") || NODE_BUILTINS.has(bareName(spec).split("/")[0]!);
}

function flagNeeded(spec: string): string {
  return `imports the Node.js built-in module "${spec}", which needs the nodejs_compat compatibility flag: ` +
    `add compatibility_flags = ["nodejs_compat"] to wrangler.toml (or "compatibility_flags": ["nodejs_compat"] to wrangler.json)`;
}

function notProvided(spec: string): string {
  return `imports the Node.js built-in module "${spec}", which Strata's nodejs_compat does not provide ` +
    `(it has ${NODE_COMPAT_MODULES.map((m) => `node:${m}`).join(", ")})`;
}

const SKIP = Symbol("strata-builtin-check");


/**
 * Resolves Node built-ins as the app's compatibility flags allow: `used` collects the compat modules the
 * bundle takes (the builder lowers async functions when async_hooks is among them). A bare name such as
 * "events" is the app's own package when it has one in node_modules, as with workerd.
 */
export function nodeBuiltins(opts: { compat: boolean; used: Set<string> }): Plugin {
  return {
    name: "strata-node-builtins",
    setup(b) {
      b.onResolve({ filter: /^(node:)?[a-z_][a-z0-9_/-]*$/ }, async (args) => {
        if (args.pluginData === SKIP) return undefined;
        const fromCompat = COMPAT_ROOTS.some((root) => args.importer.startsWith(root));
        const browser = fromCompat ? BROWSER_ENTRIES[args.path] : undefined;
        if (browser) return { path: browser() };
        if (!isNodeBuiltin(args.path)) return undefined;
        if (!args.path.startsWith("node:") && !fromCompat) {
          const vendored = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: SKIP });
          if (vendored.errors.length === 0) return vendored;
        }
        if (!opts.compat) return { errors: [{ text: flagNeeded(args.path) }] };
        const name = bareName(args.path);
        const target = COMPAT_MODULES[name];
        if (!target) return { errors: [{ text: notProvided(args.path) }] };
        opts.used.add(name);
        return { path: name, namespace: "strata-node" };
      });
      // Each compat module registers itself for process.getBuiltinModule() as it loads.
      b.onLoad({ filter: /.*/, namespace: "strata-node" }, (args) => {
        const target = JSON.stringify(COMPAT_MODULES[args.path]!());
        return {
          contents: `import m from ${target};\nimport { registerBuiltin } from ${JSON.stringify(runtime("builtins"))};\n` +
            `registerBuiltin(${JSON.stringify(args.path)}, m);\nexport * from ${target};\nexport default m;\n`,
          resolveDir: dirname(runtime("builtins")),
          loader: "js",
        };
      });
    },
  };
}

const LOWERED_FOR_ASYNC_CONTEXT = { "async-await": false, "async-generator": false, "for-await": false } as const;
const LOADERS: Record<string, Loader> = { ".ts": "ts", ".mts": "ts", ".cts": "ts", ".tsx": "tsx", ".jsx": "jsx" };

/**
 * For a bundle that uses AsyncLocalStorage: the worker's code and its packages get their async functions
 * lowered to generators, so that every `await` resumes through Promise.prototype.then, where
 * node-compat/async-hooks.ts carries the context. The compat modules are left as they are: Node's own
 * code there (node-inspect-extracted's primordials) reads the prototypes of native async functions.
 */
export function lowerAsyncOutsideCompat(appDir: string): Plugin {
  return {
    name: "strata-lower-async",
    setup(b) {
      // The app's tsconfig.json still decides how its TypeScript and JSX compile (jsxFactory, jsxImportSource...).
      const tsconfig = readFile(join(appDir, "tsconfig.json"), "utf8").catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      });
      b.onLoad({ filter: /\.[cm]?[jt]sx?$/, namespace: "file" }, async (args) => {
        if (COMPAT_ROOTS.some((root) => args.path.startsWith(root))) return undefined;
        const loader = LOADERS[extname(args.path)] ?? "js";
        const tsconfigRaw = await tsconfig;
        const out = await transform(await readFile(args.path, "utf8"), {
          loader, sourcefile: args.path, target: "es2022", supported: LOWERED_FOR_ASYNC_CONTEXT, ...(tsconfigRaw !== undefined && { tsconfigRaw }),
        });
        return { contents: out.code, loader: "js", resolveDir: dirname(args.path) };
      });
    },
  };
}
