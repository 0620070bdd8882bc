import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseJsoncText, printParseErrorCode, type ParseError } from "jsonc-parser";
import { parse as parseToml } from "smol-toml";
import { StrataError } from "../errors.js";

/** The wrangler settings Strata honours; everything else in the file is ignored. */
export interface WranglerConfig {
  readonly file: string;
  readonly name?: string;
  readonly main?: string;
  readonly compatibilityDate?: string;
  readonly vars: Record<string, unknown>;
  /** kv_namespaces: the env name of each binding and the namespace id it names. */
  readonly kvNamespaces: KvNamespaceBinding[];
  /** compatibility_flags, e.g. "nodejs_compat". */
  readonly compatibilityFlags: string[];
}

export interface KvNamespaceBinding { readonly binding: string; readonly id: string }

export const WRANGLER_FILES = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"] as const;

export async function readWranglerConfig(dir: string): Promise<WranglerConfig | null> {
  for (const file of WRANGLER_FILES) {
    let text: string;
    try {
      text = await readFile(join(dir, file), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    const raw = file.endsWith(".toml") ? parseWranglerToml(text, file) : parseJsonc(text, file);
    const str = (k: string): string | undefined => (typeof raw[k] === "string" ? (raw[k] as string) : undefined);
    const vars = raw["vars"];
    return {
      file,
      name: str("name"),
      main: str("main"),
      compatibilityDate: checkedCompatibilityDate(str("compatibility_date"), file),
      // A plain object: TOML tables come back without a prototype.
      vars: vars && typeof vars === "object" && !Array.isArray(vars) ? { ...(vars as Record<string, unknown>) } : {},
      kvNamespaces: kvNamespaces(raw["kv_namespaces"], file),
      compatibilityFlags: compatibilityFlags(raw["compatibility_flags"], file),
    };
  }
  return null;
}

/**
 * Workers pins an app's runtime behaviour to its `compatibility_date` and refuses a date it does not know
 * yet; Strata implements one behaviour, but refuses the same malformed or future dates so a project that
 * deploys here also deploys there.
 */
export function checkedCompatibilityDate(date: string | undefined, file: string, today = new Date()): string | undefined {
  if (date === undefined) return undefined;
  const parsed = /^\d{4}-\d{2}-\d{2}$/.test(date) ? new Date(`${date}T00:00:00Z`) : null;
  if (!parsed || Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== date) {
    throw new StrataError("INVALID_CONFIG", `${file}: compatibility_date "${date}" is not a date in the form YYYY-MM-DD`, { file });
  }
  if (date > today.toISOString().slice(0, 10)) {
    throw new StrataError("INVALID_CONFIG", `${file}: compatibility_date ${date} is in the future; use today's date or an earlier one`, { file });
  }
  return date;
}

/**
 * `kv_namespaces = [{ binding = "NAME", id = "..." }]`. A namespace is named by its id (wrangler's
 * `preview_id` and a missing id, as with `wrangler dev`, fall back to the binding name): bindings with the
 * same id share one namespace of the app.
 */
function kvNamespaces(raw: unknown, file: string): KvNamespaceBinding[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new StrataError("INVALID_CONFIG", `${file}: kv_namespaces must be a list of { binding, id }`, { file });
  const seen = new Set<string>();
  return raw.map((entry: unknown, i) => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const binding = e["binding"];
    if (typeof binding !== "string" || !/^[A-Za-z_$][\w$]*$/.test(binding)) {
      throw new StrataError("INVALID_CONFIG", `${file}: kv_namespaces[${i}] needs a "binding", the name the worker reads it by in env (e.g. "MY_KV")`, { file });
    }
    if (seen.has(binding)) throw new StrataError("INVALID_CONFIG", `${file}: kv_namespaces binds "${binding}" twice`, { file });
    seen.add(binding);
    const id = typeof e["id"] === "string" && e["id"] ? e["id"] : typeof e["preview_id"] === "string" && e["preview_id"] ? e["preview_id"] : binding;
    if (!/^[\w.-]{1,128}$/.test(id) || id === "." || id === "..") {
      throw new StrataError("INVALID_CONFIG", `${file}: kv_namespaces[${i}] id "${id}" may hold only letters, digits, "_", "-" and "."`, { file });
    }
    return { binding, id };
  });
}

/** `compatibility_flags = ["nodejs_compat"]`: a list of flag names. */
function compatibilityFlags(raw: unknown, file: string): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((f) => typeof f !== "string")) {
    throw new StrataError("INVALID_CONFIG", `${file}: compatibility_flags must be a list of flag names, e.g. ["nodejs_compat"]`, { file });
  }
  return [...(raw as string[])];
}

/** JSON with // and /* comments and trailing commas (wrangler.jsonc); an error names the file, line and column. */
export function parseJsonc(text: string, file: string): Record<string, unknown> {
  const errors: ParseError[] = [];
  const value: unknown = parseJsoncText(text, errors, { allowTrailingComma: true });
  const first = errors[0];
  if (first) {
    const before = text.slice(0, first.offset).split("\n");
    const where = `${before.length}:${before[before.length - 1]!.length + 1}`;
    throw new StrataError("INVALID_CONFIG", `${file}:${where}: not valid JSON: ${printParseErrorCode(first.error)}`, { file, line: before.length });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new StrataError("INVALID_CONFIG", `${file} must hold one JSON object ({ "name": ..., "main": ... })`, { file });
  }
  return value as Record<string, unknown>;
}

/** wrangler.toml, read with a real TOML parser; a syntax error names the file and line. */
export function parseWranglerToml(text: string, file: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const line = (err as { line?: number }).line;
    throw new StrataError("INVALID_CONFIG", `${file}${line ? `:${line}` : ""}: not valid TOML: ${(err as Error).message.split("\n")[0]}`, { file, ...(line && { line }) });
  }
}
