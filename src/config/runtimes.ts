/**
 * The runtimes an app.yaml may name: the one list Strata keeps. App Engine spells a runtime as the
 * language and its version without dots (python312 = Python 3.12, go122 = Go 1.22); Strata adds
 * `static` (no app process) and undotted aliases (`python3`, `nodejs`, `go`, ...) meaning "the newest
 * version the builder has".
 */
import { StrataError } from "../errors.js";
import { closestMatch } from "./suggest.js";

/** `workers` (the Workers module format) and `wasi` (a WASI program served CGI-style) run in V8 isolates. */
export type RuntimeLanguage = "static" | "python" | "nodejs" | "go" | "php" | "ruby" | "java" | "elixir" | "workers" | "wasi" | "custom" | "os" | "rust" | "c" | "cpp";

export interface RuntimeInfo {
  readonly language: RuntimeLanguage;
  /** The language version ("3.12", "20", "1.22"); absent for an alias that means the newest one. */
  readonly version?: string;
}

type VersionedLanguage = Exclude<RuntimeLanguage, "static" | "custom" | "workers" | "wasi" | "os">;

const VERSIONS: Readonly<Record<VersionedLanguage, readonly string[]>> = {
  python: ["3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"],
  nodejs: ["10", "12", "14", "16", "18", "20", "22", "24"],
  go: ["1.11", "1.12", "1.13", "1.14", "1.15", "1.16", "1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24", "1.25", "1.26"],
  php: ["7.2", "7.3", "7.4", "8.1", "8.2", "8.3", "8.4"],
  ruby: ["2.5", "2.6", "2.7", "3.0", "3.1", "3.2", "3.3", "3.4"],
  java: ["11", "17", "21", "25"],
  elixir: ["1.14", "1.15", "1.16", "1.17", "1.18", "1.19", "1.20"],
  // Every stable minor from Debian 12's (1.63) to forky's (1.97); one no suite carries runs on the nearest newer.
  rust: Array.from({ length: 97 - 63 + 1 }, (_, i) => `1.${63 + i}`),
  // The compiler is the image's gcc: `c` and `cpp` name no version.
  c: [],
  cpp: [],
};

function buildRuntimes(): Readonly<Record<string, RuntimeInfo>> {
  const table: Record<string, RuntimeInfo> = { static: { language: "static" } };
  for (const [language, versions] of Object.entries(VERSIONS) as [VersionedLanguage, readonly string[]][]) {
    for (const version of versions) table[language + version.replace(".", "")] = Object.freeze({ language, version });
    table[language] = Object.freeze({ language });
  }
  // App Engine's own alias for "the newest Python 3".
  table["python3"] = Object.freeze({ language: "python", version: "3" });
  table["custom"] = Object.freeze({ language: "custom" });
  table["workers"] = Object.freeze({ language: "workers" });
  table["wasi"] = Object.freeze({ language: "wasi" });
  // A whole Debian system (systemd, packages, cloud-init) in a system container: app.yaml `os:` says which.
  table["os"] = Object.freeze({ language: "os" });
  return Object.freeze(table);
}

/** Runtime id -> language and version. */
export const RUNTIMES: Readonly<Record<string, RuntimeInfo>> = buildRuntimes();

function isKnownRuntime(runtime: string): boolean {
  return Object.hasOwn(RUNTIMES, runtime);
}

/** The known runtimes grouped by language, one group a line, for error messages. */
function knownRuntimesText(): string {
  const byLanguage = new Map<RuntimeLanguage, string[]>();
  for (const [id, info] of Object.entries(RUNTIMES)) {
    const ids = byLanguage.get(info.language) ?? [];
    ids.push(id);
    byLanguage.set(info.language, ids);
  }
  return [...byLanguage].map(([language, ids]) => `${language}: ${ids.join(" ")}`).join("; ");
}

/** Why `runtime` is not a known runtime, with a suggestion; undefined when it is known. */
export function runtimeProblem(runtime: string): string | undefined {
  if (isKnownRuntime(runtime)) return undefined;
  const guess = closestMatch(runtime, Object.keys(RUNTIMES));
  const hint = guess === undefined ? "" : ` (did you mean \`${guess}\`?)`;
  return `unknown runtime "${runtime}"${hint}; known runtimes are ${knownRuntimesText()}`;
}

/** The language of a runtime id; an unknown id is an INVALID_CONFIG error listing the known ones. */
export function runtimeLanguage(runtime: string): RuntimeLanguage {
  const problem = runtimeProblem(runtime);
  if (problem !== undefined) {
    throw new StrataError("INVALID_CONFIG", problem, { path: "runtime", value: runtime, allowed: Object.keys(RUNTIMES) });
  }
  return (RUNTIMES[runtime] as RuntimeInfo).language;
}
