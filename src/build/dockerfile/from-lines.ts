/**
 * Reads the image references a Dockerfile builds on — `FROM <image>` and `COPY --from=<image>` that name
 * no earlier stage — with Docker's rules: line continuations, comments, the `escape` parser directive, and
 * global `ARG`s (declared before the first FROM) substituted into FROM lines. Everything else is left to
 * buildah, which reports syntax errors with the step they are in.
 */

export interface BaseImageUse {
  /** The reference as the build will look it up, after ARG substitution (e.g. `python:3.11`). */
  image: string;
  /** 1-based line of the instruction in the Dockerfile. */
  line: number;
  instruction: "FROM" | "COPY --from";
}

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export function baseImageUses(dockerfile: string): BaseImageUse[] {
  const instructions = splitInstructions(dockerfile);
  const globalArgs = new Map<string, string>();
  const stages: string[] = [];
  const uses: BaseImageUse[] = [];
  let seenFrom = false;
  for (const ins of instructions) {
    if (ins.keyword === "ARG" && !seenFrom) {
      for (const decl of ins.args.split(/\s+/).filter(Boolean)) {
        const eq = decl.indexOf("=");
        const name = eq < 0 ? decl : decl.slice(0, eq);
        globalArgs.set(name, eq < 0 ? (globalArgs.get(name) ?? "") : unquote(decl.slice(eq + 1)));
      }
    } else if (ins.keyword === "FROM") {
      seenFrom = true;
      const words = ins.args.split(/\s+/).filter((w) => w && !w.startsWith("--"));
      const image = substitute(words[0] ?? "", globalArgs);
      const alias = words[1]?.toUpperCase() === "AS" ? words[2]?.toLowerCase() : undefined;
      if (image && image !== "scratch" && !stages.includes(image.toLowerCase())) uses.push({ image, line: ins.line, instruction: "FROM" });
      stages.push(alias ?? `#${stages.length}`);
    } else if (ins.keyword === "COPY" || ins.keyword === "ADD") {
      const from = /(?:^|\s)--from=(\S+)/.exec(ins.args)?.[1];
      if (from && !stages.includes(from.toLowerCase()) && !/^\d+$/.test(from)) uses.push({ image: from, line: ins.line, instruction: "COPY --from" });
    }
  }
  return uses;
}

function splitInstructions(text: string): Instruction[] {
  const lines = text.split(/\r?\n/);
  const escape = parserEscape(lines);
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | null = null;
  lines.forEach((raw, i) => {
    if (/^\s*#/.test(raw)) return; // comments, also between continued lines
    if (pending === null && raw.trim() === "") return;
    const continued = raw.trimEnd().endsWith(escape);
    const body = continued ? raw.trimEnd().slice(0, -1) : raw;
    pending = pending ? { text: `${pending.text} ${body.trim()}`, line: pending.line } : { text: body.trim(), line: i + 1 };
    if (!continued) {
      const m = /^(\S+)\s*(.*)$/.exec(pending.text);
      if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: pending.line });
      pending = null;
    }
  });
  return out;
}

/** `# escape=`` ` `` among the parser directives at the top of the file changes the continuation character. */
function parserEscape(lines: readonly string[]): string {
  for (const line of lines) {
    const m = /^\s*#\s*(\w+)\s*=\s*(\S+)\s*$/.exec(line);
    if (!m) break;
    if (m[1]!.toLowerCase() === "escape") return m[2]!;
  }
  return "\\";
}

/** `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alternative}`, as Docker expands them in FROM. */
function substitute(word: string, args: ReadonlyMap<string, string>): string {
  return word.replace(/\$(?:\{(\w+)(?::([-+])([^}]*))?\}|(\w+))/g, (_all, braced?: string, op?: string, alt?: string, bare?: string) => {
    const value = args.get((braced ?? bare)!) ?? "";
    if (op === "-") return value || (alt ?? "");
    if (op === "+") return value ? (alt ?? "") : "";
    return value;
  });
}

function unquote(value: string): string {
  return /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
}
