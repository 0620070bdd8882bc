import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { StrataError } from "../../errors.js";

/** The wrangler settings Strata honours; everything else in the file is ignored. */
export interface WranglerConfig {
  readonly file: string;
  readonly name?: string;
  readonly main?: string;
  readonly compatibilityDate?: string;
  readonly vars: Record<string, unknown>;
}

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

/** JSON with // and /* comments and trailing commas (wrangler.jsonc). */
export function parseJsonc(text: string, file: string): Record<string, unknown> {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 1;
    } else out += c;
  }
  try {
    return JSON.parse(out.replace(/,(\s*[}\]])/g, "$1")) as Record<string, unknown>;
  } catch (err) {
    throw new StrataError("INVALID_CONFIG", `${file} is not valid JSON: ${(err as Error).message}`, { file });
  }
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
