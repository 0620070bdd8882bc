/**
 * The pass over a parsed YAML tree before zod sees it: finds keys the schema does not have (an App
 * Engine key Strata ignores becomes a warning, anything else an error with a "did you mean"), and
 * normalizes what YAML writes loosely (an empty mapping or list, numbers in string-valued mappings).
 */
import { z } from "zod";
import type { ConfigPath, Finding } from "./config-issue.js";
import { closestMatch } from "./suggest.js";
import { childSchema, unwrapSchema } from "./zod-issues.js";

/** An unknown key, and the known key it is probably a misspelling of. */
export type UnknownKey = Finding & { meant?: string };

export interface ScreenResult {
  errors: UnknownKey[];
  warnings: Finding[];
}

export interface ScreenOptions {
  /** Keys the schema lacks but the format knows, by level ("" top, "handlers[]" ...), with a note each. */
  ignored: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** How the source spells the scalar at a path ("08", "1.0"), to keep it when a string is wanted. */
  sourceText: (path: ConfigPath) => string | undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** "handlers[]" for ["handlers", 3]: the level's name in the ignored-keys table. */
function levelOf(path: ConfigPath): string {
  return path.map((p) => (typeof p === "number" ? "[]" : p)).join(".").replaceAll(".[]", "[]");
}

/** Mutates `data` in place (drops ignored and unknown keys, fills empty containers, stringifies) and reports. */
export function screenKeys(schema: z.ZodType, data: unknown, options: ScreenOptions): ScreenResult {
  const result: ScreenResult = { errors: [], warnings: [] };
  const homes = new Map<string, string[]>();
  collectHomes(schema, [], homes);
  for (const [level, keys] of Object.entries(options.ignored)) {
    for (const key of Object.keys(keys)) homes.set(key, [...(homes.get(key) ?? []), level]);
  }
  visit(schema, data, [], { ...options, homes }, result);
  return result;
}

type VisitOptions = ScreenOptions & { homes: ReadonlyMap<string, string[]> };

/** Every level each key of the schema lives at, to tell someone who wrote `secure:` at the top where it goes. */
function collectHomes(schema: z.ZodType, path: ConfigPath, homes: Map<string, string[]>): void {
  const inner = unwrapSchema(schema);
  if (inner instanceof z.ZodObject) {
    for (const key of Object.keys(inner.shape)) {
      homes.set(key, [...(homes.get(key) ?? []), levelOf(path)]);
      collectHomes(childSchema(inner, key) as z.ZodType, [...path, key], homes);
    }
  } else if (inner instanceof z.ZodArray) {
    collectHomes(inner.element as z.ZodType, [...path, 0], homes);
  }
}

function levelName(level: string): string {
  if (level === "") return "the top level";
  return level.endsWith("[]") ? `an entry of ${level.slice(0, -2)}` : level;
}

function unknownKey(
  path: ConfigPath,
  known: readonly string[],
  ignored: readonly string[],
  homes: ReadonlyMap<string, string[]>,
): UnknownKey {
  const key = String(path[path.length - 1]);
  const finding = { path, atKey: true, allowed: known.join(", ") };
  const elsewhere = homes.get(key);
  if (elsewhere !== undefined) {
    const level = levelOf(path.slice(0, -1));
    return { ...finding, message: `belongs in ${elsewhere.map(levelName).join(" or ")}, not in ${levelName(level)}` };
  }
  const meant = closestMatch(key, [...known, ...ignored]);
  if (meant === undefined) return { ...finding, message: `not an app.yaml key here; the keys are ${known.join(", ")}` };
  return { ...finding, meant, message: `not an app.yaml key; did you mean \`${meant}\`?` };
}

function visit(schema: z.ZodType, value: unknown, path: ConfigPath, options: VisitOptions, out: ScreenResult): void {
  const inner = unwrapSchema(schema);
  if (inner instanceof z.ZodObject && isPlainObject(value)) {
    const known = Object.keys(inner.shape);
    const ignored = options.ignored[levelOf(path)] ?? {};
    for (const key of Object.keys(value)) {
      const child = childSchema(inner, key);
      const keyPath = [...path, key];
      if (child !== undefined) {
        value[key] = emptyContainer(child, value[key]);
        visit(child, value[key], keyPath, options, out);
        continue;
      }
      delete value[key];
      const note = ignored[key];
      if (note !== undefined) {
        out.warnings.push({ path: keyPath, atKey: true, message: `an App Engine key Strata does not act on; ignored (${note})` });
        continue;
      }
      out.errors.push(unknownKey(keyPath, known, Object.keys(ignored), options.homes));
    }
  } else if (inner instanceof z.ZodArray && Array.isArray(value)) {
    value.forEach((item, i) => visit(inner.element as z.ZodType, item, [...path, i], options, out));
  } else if (inner instanceof z.ZodRecord && isPlainObject(value) && unwrapSchema(inner.valueType as z.ZodType) instanceof z.ZodString) {
    // App Engine wants strings here; YAML reads `PORT: 8080` as a number. Keep what the file wrote ("08", "1.0").
    for (const [key, item] of Object.entries(value)) {
      if (typeof item === "number" || typeof item === "boolean") value[key] = options.sourceText([...path, key]) ?? String(item);
    }
  }
}

/** A mapping or list field written with nothing after its key (`env_variables:`) is empty, not an error. */
function emptyContainer(schema: z.ZodType, value: unknown): unknown {
  if (value !== null) return value;
  const inner = unwrapSchema(schema);
  if (inner instanceof z.ZodObject || inner instanceof z.ZodRecord) return {};
  if (inner instanceof z.ZodArray) return [];
  return value;
}
