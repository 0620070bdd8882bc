import { builtinModules, createRequire } from "node:module";
import { dirname, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "esbuild";

/**
 * Node.js built-in modules in a worker. Without a compatibility flag none exists (the build fails, naming
 * the module and the flag). With `nodejs_compat` (wrangler `compatibility_flags`), the modules Workers'
 * nodejs_compat offers that npm code needs most are bundled into the worker: well-kept npm implementations
 * of Node's own (buffer, events, util, readable-stream for stream, string_decoder), and Strata's for what
 * needs the engine or the isolate's event loop (crypto, async_hooks, process). As under workerd with a
 * compatibility date from 2024-09-23 on, bare names work as well as `node:` ones, and `Buffer` and
 * `process` are globals.
 */
export const NODE_COMPAT_FLAGS = ["nodejs_compat", "nodejs_compat_v2"] as const;

export function hasNodeCompat(flags: readonly string[] | undefined): boolean {
  return (flags ?? []).some((f) => (NODE_COMPAT_FLAGS as readonly string[]).includes(f));
}

const require = createRequire(import.meta.url);
const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

function runtime(name: string): string {
  return fileURLToPath(new URL(`./node-compat/${name}${ext}`, import.meta.url));
}

/** Each module nodejs_compat provides, and the file that implements it. */
const COMPAT_MODULES: Record<string, () => string> = {
  buffer: () => runtime("buffer"),
  events: () => require.resolve("events/events.js"),
  util: () => require.resolve("util/util.js"),
  // readable-stream's browser entry: its Node entry re-exports Node's own stream module.
  stream: () => require.resolve("readable-stream/lib/ours/browser.js"),
  "stream/promises": () => require.resolve("readable-stream/lib/stream/promises.js"),
  string_decoder: () => runtime("string-decoder"),
  crypto: () => runtime("crypto"),
  async_hooks: () => runtime("async-hooks"),
  process: () => runtime("process"),
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
};

/** Where the compat implementations live: their imports of built-ins always mean the compat modules. */
const COMPAT_ROOTS = [
  ...["buffer", "events", "util", "readable-stream", "string_decoder"].map((p) => dirname(require.resolve(`${p}/package.json`)) + sep),
  dirname(runtime("process")) + sep,
];

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
        return { path: target() };
      });
    },
  };
}

/**
 * What esbuild must lower in a bundle that uses AsyncLocalStorage: every `await` has to resume through
 * Promise.prototype.then, where node-compat/async-hooks.ts carries the context.
 */
export const LOWERED_FOR_ASYNC_CONTEXT = { "async-await": false, "async-generator": false, "for-await": false } as const;
