/** Problems and warnings found in a config file, located at a line and column, and how they are thrown. */
import { StrataError } from "../errors.js";

export type ConfigPath = readonly (string | number)[];

export interface ConfigWarning {
  file: string;
  line: number;
  column: number;
  /** The field, like `handlers[0].login`; "" for the file as a whole. */
  path: string;
  message: string;
}

/** A problem or warning before it is located in the source: a field path and what is wrong with it. */
export interface Finding {
  path: ConfigPath;
  message: string;
  allowed?: string;
  /** Point at the key itself (a misspelt or ignored key) rather than at its value. */
  atKey?: boolean;
}

export interface ConfigIssue extends ConfigWarning {
  /** What the field accepts, when that is a short list or format. */
  allowed?: string;
}

/** `["handlers", 1, "static_dir"]` -> `handlers[1].static_dir`. */
export function formatPath(path: ConfigPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? part : `.${part}`;
  }
  return out;
}

/** `app.yaml:7:3: handlers[1].static_dir: expected ...` */
function formatIssue(issue: ConfigWarning): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.path === "" ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/**
 * One INVALID_CONFIG error for all the problems in a file, in file order: the message lists each on
 * its own line; details carry the first one's location and every issue.
 */
export function configError(issues: readonly ConfigIssue[]): StrataError {
  const sorted = [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
  const first = sorted[0];
  if (first === undefined) throw new RangeError("configError needs at least one issue");
  const message =
    sorted.length === 1
      ? formatIssue(first)
      : [`${first.file} has ${sorted.length} problems:`, ...sorted.map(formatIssue)].join("\n");
  const details: Record<string, unknown> = {
    file: first.file,
    line: first.line,
    column: first.column,
    path: first.path,
    issues: sorted,
  };
  if (first.allowed !== undefined) details["allowed"] = first.allowed;
  return new StrataError("INVALID_CONFIG", message, details);
}
