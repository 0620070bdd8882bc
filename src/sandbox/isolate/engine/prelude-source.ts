import { build } from "esbuild";
import { fileURLToPath } from "node:url";

/**
 * The prelude as one script: bundled from prelude/index.(ts|js) next to this engine (source under
 * tsx, compiled JS under dist), once per engine process.
 */
export async function bundlePrelude(): Promise<string> {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  const entry = fileURLToPath(new URL(`../prelude/index${ext}`, import.meta.url));
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "iife",
    platform: "neutral",
    target: "es2022",
    minifySyntax: true,
    logLevel: "silent",
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error("bundling the isolate prelude produced no output");
  return file.text;
}
