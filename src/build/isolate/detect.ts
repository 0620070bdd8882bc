import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { StrataError } from "../../errors.js";
import { readWranglerConfig, type KvNamespaceBinding, type WranglerConfig } from "../../config/index.js";

/**
 * What the isolate builder found in a source directory. The rules, in order:
 *  1. app.yaml `runtime: wasi` — a WASI program served CGI-style; the .wasm is app.yaml
 *     `entrypoint`, else the one top-level .wasm file.
 *  2. a wrangler.json / wrangler.jsonc / wrangler.toml — a Workers project; the entry is app.yaml
 *     `entrypoint` (when it names a file), else wrangler `main`, else the first default entry.
 *  3. app.yaml `runtime: workers` or `sandbox: isolate` — a worker from `entrypoint` or the default
 *     entries; with no JS/TS entry but one top-level WASI .wasm, a WASI CGI app.
 *  4. no app.yaml runtime: a default entry whose source has `export default` and `fetch` — a worker.
 * Default entries: src/index.ts, src/index.js, src/worker.ts, src/worker.js, index.ts, index.js,
 * worker.ts, worker.js (and .mjs). Anything else is not an isolate app (null).
 */
export interface IsolateApp {
  readonly kind: "worker" | "wasi-cgi";
  /** Entry file relative to the source dir (a JS/TS module, or the .wasm program). */
  readonly entry: string;
  readonly name?: string;
  readonly compatibilityDate?: string;
  readonly vars: Record<string, unknown>;
  /** wrangler kv_namespaces (none without a wrangler config). */
  readonly kvNamespaces?: readonly KvNamespaceBinding[];
  /** wrangler compatibility_flags (none without a wrangler config). */
  readonly compatibilityFlags?: readonly string[];
  /** Which rule matched, for the build log. */
  readonly reason: string;
}

const DEFAULT_ENTRIES = [
  "src/index.ts", "src/index.js", "src/index.mjs", "src/worker.ts", "src/worker.js", "src/worker.mjs",
  "index.ts", "index.js", "index.mjs", "worker.ts", "worker.js", "worker.mjs",
];

interface AppYamlKeys { runtime?: string; sandbox?: string; entrypoint?: string }

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

async function readAppYaml(dir: string): Promise<AppYamlKeys | null> {
  let text: string;
  try {
    text = await readFile(join(dir, "app.yaml"), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const doc = parseYaml(text) as Record<string, unknown> | null;
  const str = (k: string) => (typeof doc?.[k] === "string" ? (doc[k] as string) : undefined);
  return { runtime: str("runtime"), sandbox: str("sandbox"), entrypoint: str("entrypoint") };
}

async function firstDefaultEntry(dir: string): Promise<string | null> {
  for (const e of DEFAULT_ENTRIES) if (await isFile(join(dir, e))) return e;
  return null;
}

async function singleWasm(dir: string): Promise<string | null> {
  const wasm = (await readdir(dir)).filter((f) => f.endsWith(".wasm"));
  return wasm.length === 1 ? wasm[0]! : null;
}

/** Whether `file` is a WASI command: a module exporting `_start` and its memory. */
export async function isWasiCommand(file: string): Promise<boolean> {
  const bytes = await readFile(file);
  if (!WebAssembly.validate(bytes)) return false;
  const exports = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name);
  return exports.includes("_start") && exports.includes("memory");
}

function fromWrangler(w: WranglerConfig | null): Pick<IsolateApp, "name" | "compatibilityDate" | "vars" | "kvNamespaces" | "compatibilityFlags"> {
  return { name: w?.name, compatibilityDate: w?.compatibilityDate, vars: w?.vars ?? {}, kvNamespaces: w?.kvNamespaces ?? [], compatibilityFlags: w?.compatibilityFlags ?? [] };
}

export async function detect(dir: string): Promise<IsolateApp | null> {
  const app = await readAppYaml(dir);
  const wrangler = await readWranglerConfig(dir);
  const yamlEntry = app?.entrypoint && (await isFile(join(dir, app.entrypoint))) ? app.entrypoint : null;

  if (app?.runtime === "wasi") {
    const entry = yamlEntry ?? (await singleWasm(dir));
    if (!entry) throw new StrataError("BUILD_FAILED", "app.yaml says runtime: wasi but names no .wasm entrypoint and the folder does not hold exactly one .wasm file");
    return { kind: "wasi-cgi", entry, ...fromWrangler(wrangler), reason: "app.yaml runtime: wasi" };
  }
  if (wrangler) {
    const entry = yamlEntry ?? wrangler.main ?? (await firstDefaultEntry(dir));
    if (!entry) throw new StrataError("BUILD_FAILED", `${wrangler.file} has no "main" and no default entry (src/index.ts, index.js, ...) exists`);
    return { kind: "worker", entry: entry.replace(/^\.\//, ""), ...fromWrangler(wrangler), reason: wrangler.file };
  }
  if (app?.runtime === "workers" || app?.sandbox === "isolate") {
    const entry = yamlEntry ?? (await firstDefaultEntry(dir));
    if (entry) return { kind: "worker", entry, vars: {}, reason: `app.yaml ${app.runtime === "workers" ? "runtime: workers" : "sandbox: isolate"}` };
    const wasm = await singleWasm(dir);
    if (wasm && (await isWasiCommand(join(dir, wasm)))) return { kind: "wasi-cgi", entry: wasm, vars: {}, reason: "app.yaml sandbox: isolate with a WASI .wasm" };
    throw new StrataError("BUILD_FAILED", "app.yaml asks for the isolate runtime but no entry was found (set entrypoint, or add src/index.ts or index.js)");
  }
  if (app?.runtime) return null;
  const entry = await firstDefaultEntry(dir);
  if (entry) {
    const source = await readFile(join(dir, entry), "utf8");
    if (/export\s+default\b/.test(source) && /\bfetch\b/.test(source)) {
      return { kind: "worker", entry, vars: {}, reason: `${entry} exports a default fetch handler` };
    }
  }
  return null;
}
