/**
 * Turns zod issues into messages a user can act on: the field, what it accepts (from the schema's
 * `.describe()` text or the allowed values) and what the file has instead.
 */
import { z } from "zod";
import type { ConfigPath, Finding } from "./config-issue.js";
import { closestMatch } from "./suggest.js";

/** The schema inside optional/nullable/default/pipe wrappers, and the first description met on the way. */
function unwrap(schema: z.ZodType): { inner: z.ZodType; description: string | undefined } {
  let inner = schema;
  let description = schema.description;
  for (;;) {
    if (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable || inner instanceof z.ZodDefault) {
      inner = inner.unwrap() as z.ZodType;
    } else if (inner instanceof z.ZodPipe) {
      inner = inner.in as z.ZodType;
    } else {
      return { inner, description };
    }
    description ??= inner.description;
  }
}

export function unwrapSchema(schema: z.ZodType): z.ZodType {
  return unwrap(schema).inner;
}

/** The schema of a field inside `schema`: an object's property, a list's element, a mapping's value. */
export function childSchema(schema: z.ZodType, part: string | number): z.ZodType | undefined {
  const inner = unwrapSchema(schema);
  if (inner instanceof z.ZodObject) {
    return typeof part === "string" && Object.hasOwn(inner.shape, part) ? (inner.shape[part] as z.ZodType) : undefined;
  }
  if (inner instanceof z.ZodArray) return inner.element as z.ZodType;
  if (inner instanceof z.ZodRecord) return inner.valueType as z.ZodType;
  return undefined;
}

function descriptionAt(schema: z.ZodType, path: ConfigPath): string | undefined {
  let current: z.ZodType | undefined = schema;
  for (const part of path) {
    current = current === undefined ? undefined : childSchema(current, part);
  }
  return current === undefined ? undefined : unwrap(current).description;
}

export function valueAt(data: unknown, path: ConfigPath): unknown {
  let current = data;
  for (const part of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[part];
  }
  return current;
}

/** `a number (7)`, `a string ("x")`, `a list`, `an empty value`. */
function describeValue(value: unknown): string {
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  switch (typeof value) {
    case "string":
      return `a string (${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)})`;
    case "number":
      return `a number (${value})`;
    case "boolean":
      return `a boolean (${value})`;
    case "object":
      return "a mapping";
    default:
      return String(value);
  }
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a mapping",
  record: "a mapping",
};

function bound(issue: { minimum?: unknown; maximum?: unknown; origin?: string; inclusive?: boolean }): string {
  const limit = Number(issue.minimum ?? issue.maximum);
  const small = issue.minimum !== undefined;
  const inclusive = issue.inclusive !== false;
  if (issue.origin === "string") return small ? (limit <= 1 ? "must not be empty" : `must have at least ${limit} characters`) : `must have at most ${limit} characters`;
  if (issue.origin === "array") return small ? `must have at least ${limit} entries` : `must have at most ${limit} entries`;
  if (small) return inclusive ? `must be at least ${limit}` : `must be more than ${limit}`;
  return inclusive ? `must be at most ${limit}` : `must be less than ${limit}`;
}

function formatValues(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === "string" ? v : String(v))).join(", ");
}

/** A zod issue as a Finding, worded from the schema's descriptions and the value the file has. */
export function findingFromZodIssue(issue: z.core.$ZodIssue, schema: z.ZodType, data: unknown): Finding {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  const input = valueAt(data, path);
  const hint = descriptionAt(schema, path);
  switch (issue.code) {
    case "invalid_type":
    case "invalid_union": {
      const expected = hint ?? TYPE_NAMES[issue.code === "invalid_type" ? issue.expected : ""] ?? "another value";
      if (input === undefined) return { path, message: `missing; expected ${expected}`, allowed: expected };
      return { path, message: `expected ${expected}, got ${describeValue(input)}`, allowed: expected };
    }
    case "invalid_value": {
      const allowed = formatValues(issue.values);
      const guess = typeof input === "string" ? closestMatch(input, issue.values.map(String)) : undefined;
      const suggestion = guess === undefined ? "" : ` (did you mean \`${guess}\`?)`;
      return { path, message: `expected one of ${allowed}, got ${describeValue(input)}${suggestion}`, allowed };
    }
    case "too_small":
    case "too_big": {
      const got = typeof input === "number" ? `, got ${input}` : "";
      return { path, message: `${bound(issue)}${got}`, ...(hint === undefined ? {} : { allowed: hint }) };
    }
    case "invalid_key": {
      const reason = issue.issues[0]?.message ?? "is not an allowed name";
      return { path, message: reason, atKey: true };
    }
    case "custom": {
      const params = (issue.params ?? {}) as { allowed?: unknown; atKey?: unknown };
      return {
        path,
        message: issue.message,
        ...(typeof params.allowed === "string" ? { allowed: params.allowed } : {}),
        ...(params.atKey === true ? { atKey: true } : {}),
      };
    }
    default:
      return { path, message: issue.message, ...(hint === undefined ? {} : { allowed: hint }) };
  }
}
