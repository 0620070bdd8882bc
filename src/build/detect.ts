import { pathExists } from "../system/fs.js";
import { join } from "node:path";
import { StrataError } from "../errors.js";
import { runtimeLanguage } from "../config/index.js";
import type { AppYaml } from "../config/index.js";
import { detect as detectIsolateApp } from "./isolate/detect.js";

/** What kind of app a folder holds; picks the builder and, through the runtime table, the sandbox. */
export type AppKind = "static" | "python" | "nodejs" | "go" | "docker" | "workers" | "php" | "ruby" | "java" | "elixir" | "custom" | "os" | "function" | "rust" | "c" | "cpp";

/** Markers in the order they decide: a Dockerfile beats everything, index.html only counts alone. */
const MARKERS: ReadonlyArray<[AppKind, readonly string[]]> = [
  ["docker", ["Dockerfile"]],
  ["workers", ["wrangler.toml", "wrangler.json", "wrangler.jsonc"]],
  ["go", ["go.mod"]],
  ["elixir", ["mix.exs"]],
  ["java", ["pom.xml", "build.gradle", "build.gradle.kts"]],
  ["rust", ["Cargo.toml"]],
  ["python", ["requirements.txt", "pyproject.toml", "main.py"]],
  ["php", ["composer.json", "index.php", "public/index.php"]],
  ["nodejs", ["package.json"]],
  // After the languages whose folders often carry a Makefile too.
  ["c", ["CMakeLists.txt", "meson.build", "Makefile"]],
  ["static", ["index.html"]],
];

/** The parts of app.yaml detection reads. */
export type DetectSpec = Partial<Pick<AppYaml, "runtime" | "sandbox">>;

/** The one place that decides an app's kind: app.yaml first, then the markers in the folder. */
export async function detectAppKind(dir: string, spec: DetectSpec | undefined): Promise<AppKind> {
  // Isolates run bundles, not processes: `sandbox: isolate` makes any JS/TS/WASM app a worker.
  if (spec?.sandbox === "isolate") return "workers";
  if (spec?.runtime) {
    const lang = runtimeLanguage(spec.runtime);
    if (lang === "wasi") return "workers";
    return lang === "custom" ? "docker" : lang;
  }
  for (const [kind, files] of MARKERS) {
    for (const f of files) if (await pathExists(join(dir, f))) return kind;
  }
  // A bare worker (index.ts exporting `default { fetch }`) or a lone WASI program.
  if (await detectIsolateApp(dir)) return "workers";
  throw new StrataError(
    "UNSUPPORTED_RUNTIME",
    "cannot tell what kind of app this is: add an app.yaml with `runtime:` (e.g. static, python311, nodejs20, go121), " +
      "or one of: index.html (static site), requirements.txt or main.py (Python), composer.json or index.php (PHP), package.json (Node.js), go.mod (Go), mix.exs (Elixir), " +
      "pom.xml (Java), Cargo.toml (Rust), CMakeLists.txt, meson.build or Makefile (C/C++), " +
      "wrangler.toml (Workers), Dockerfile",
  );
}
