/** A YAML file parsed with positions kept, so that a field path can be turned back into a line and column. */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { ConfigPath } from "./config-issue.js";

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
