import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { build, type Plugin } from "esbuild";

/**
 * HTMLRewriter's engine: lol-html (Cloudflare's streaming HTML rewriter) built to WebAssembly with
 * asyncify, from the html-rewriter-wasm package (the build Miniflare 2 used). Its wasm-bindgen glue is a
 * Node CommonJS module; bundled here as one expression, `(wasmBytes) => exports`, with the few Node
 * modules it takes (util's TextEncoder/TextDecoder, assert, fs/path to read the .wasm) replaced by the
 * isolate's own and by the bytes handed in. Read once per engine, when an isolate first asks for it.
 */
export interface HtmlRewriterSource { readonly code: string; readonly wasm: Uint8Array }

const SHIMS: Record<string, string> = {
  util: "module.exports = { TextDecoder: globalThis.TextDecoder, TextEncoder: globalThis.TextEncoder };",
  assert: [
    "function assert(ok, message) { if (!ok) throw new Error(message || 'HTMLRewriter: assertion failed'); }",
    "assert.strictEqual = (a, b, message) => assert(a === b, message || `HTMLRewriter: expected ${b}, got ${a}`);",
    "module.exports = assert;",
  ].join("\n"),
  path: "module.exports = { join: () => 'html_rewriter_bg.wasm' };",
  fs: "module.exports = { readFileSync: () => __strataHtmlRewriterWasm };",
};

const shims: Plugin = {
  name: "strata-html-rewriter-shims",
  setup(b) {
    b.onResolve({ filter: /^(util|assert|path|fs)$/ }, (args) => ({ path: args.path, namespace: "strata-shim" }));
    b.onLoad({ filter: /.*/, namespace: "strata-shim" }, (args) => ({ contents: SHIMS[args.path]!, loader: "js" }));
    // The glue requires by String.raw`...` template, which a bundler does not follow; a plain string it does.
    b.onLoad({ filter: /html-rewriter-wasm[\\/]dist[\\/]html_rewriter\.js$/ }, async (args) => ({
      contents: (await readFile(args.path, "utf8")).replace(/require\(String\.raw`([^`]+)`\)/g, (_m, spec: string) => `require(${JSON.stringify(spec)})`),
      loader: "js",
    }));
  },
};

let loaded: Promise<HtmlRewriterSource> | null = null;

export function htmlRewriterSource(): Promise<HtmlRewriterSource> {
  loaded ??= (async () => {
    const main = createRequire(import.meta.url).resolve("html-rewriter-wasm");
    const out = await build({
      entryPoints: [main],
      bundle: true,
      write: false,
      format: "iife",
      globalName: "__strataHtmlRewriterLib",
      platform: "neutral",
      target: "es2022",
      logLevel: "silent",
      plugins: [shims],
      define: { __dirname: '""' },
    });
    const file = out.outputFiles[0];
    if (!file) throw new Error("bundling html-rewriter-wasm produced no output");
    const code = `((__strataHtmlRewriterWasm) => {\n${file.text}\nreturn __strataHtmlRewriterLib;\n})`;
    return { code, wasm: await readFile(join(dirname(main), "html_rewriter_bg.wasm")) };
  })();
  loaded.catch(() => (loaded = null));
  return loaded;
}
