/** A YAML file parsed with positions kept, so that a field path can be turned back into a line and column. */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import { configError, formatPath, type ConfigIssue, type ConfigPath, type ConfigWarning, type Finding } from "./config-issue.js";

export interface Position {
  line: number;
  column: number;
}

export class YamlSource {
  readonly doc: Document.Parsed;
  private readonly lines: LineCounter;

  constructor(text: string) {
    this.lines = new LineCounter();
    // merge: PyYAML, which App Engine reads app.yaml with, honours `<<:` merge keys.
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, merge: true });
  }

  position(offset: number): Position {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  /**
   * Where `path` is written: its value's node, or its key when `atKey` (for a misspelt key). A path
   * that is absent (a missing required field) resolves to the nearest enclosing node that exists.
   */
  locate(path: ConfigPath, atKey = false): Position {
    let node: unknown = this.doc.contents;
    let found = rangeStart(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      const part = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(part));
        if (!isPair(pair)) break;
        const keyStart = rangeStart(pair.key);
        if (last && atKey && keyStart !== undefined) return this.position(keyStart);
        // An empty value (`handlers:` and nothing) has no node of its own: point at its key.
        found = rangeStart(pair.value) ?? keyStart ?? found;
        node = pair.value;
      } else if (isSeq(node) && typeof part === "number") {
        const item = node.items[part];
        if (item === undefined) break;
        found = rangeStart(item) ?? found;
        node = item;
      } else {
        break;
      }
    }
    return this.position(found);
  }

  /** The source spelling of the scalar at `path` ("08", "1.0", "true"), if it is a scalar. */
  sourceText(path: ConfigPath): string | undefined {
    const node = this.doc.getIn(path, true);
    return isScalar(node) && typeof node.source === "string" ? node.source : undefined;
  }
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}

/**
 * A config file as YAML data whose top level is a mapping; anything else is an error at its line. An
 * empty file is the error `emptyMessage` when given, else an empty mapping.
 */
export function readYamlMapping(
  text: string,
  file: string,
  emptyMessage?: string,
): { source: YamlSource; data: Record<string, unknown>; warnings: ConfigWarning[] } {
  const fileStart = { file, line: 1, column: 1, path: "" };
  const source = new YamlSource(text);
  const empty = () => {
    if (emptyMessage !== undefined) throw configError([{ ...fileStart, message: emptyMessage }]);
    return { source, data: {}, warnings: [] };
  };
  if (text.trim() === "") return empty();
  if (source.doc.errors.length > 0) {
    throw configError(
      source.doc.errors.map((err) => ({ ...fileStart, ...source.position(err.pos[0]), message: `YAML syntax error: ${err.message}` })),
    );
  }
  const top = source.doc.contents;
  if (top === null || (isScalar(top) && top.value === null)) return empty();
  if (!isMap(top)) {
    const got = isSeq(top) ? "a list" : "a single value";
    throw configError([{ ...fileStart, ...source.locate([]), message: `the top level must be a mapping of keys (like \`key: value\`), got ${got}` }]);
  }
  let data: Record<string, unknown>;
  try {
    data = source.doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  } catch (err) {
    // The document parsed, so what fails here is its content (an alias bomb): a problem of the file.
    throw configError([{ ...fileStart, message: `cannot be read: ${(err as Error).message}` }]);
  }
  const warnings = source.doc.warnings.map((w) => ({ ...fileStart, ...source.position(w.pos[0]), message: w.message }));
  return { source, data, warnings };
}

/** Turns a finding (a field path and what is wrong) into an issue at its line and column in `file`. */
export function issueLocator(source: YamlSource, file: string): (finding: Finding) => ConfigIssue {
  return (finding) => ({
    file,
    ...source.locate(finding.path, finding.atKey),
    path: formatPath(finding.path),
    message: finding.message,
    ...(finding.allowed === undefined ? {} : { allowed: finding.allowed }),
  });
}
