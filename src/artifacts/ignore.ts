import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** Decides whether a path (relative, "/"-separated) is left out; `isDir` matters for patterns ending in "/". */
export type IgnoreMatcher = (relPath: string, isDir: boolean) => boolean;

/** Read in this order; the first that exists is the folder's ignore file. */
export const IGNORE_FILES = [".stratignore", ".gcloudignore"] as const;
/** Never worth uploading; a user's file may still re-include them with "!". */
export const DEFAULT_IGNORES = [".git/", ".hg/", ".svn/"];

interface Rule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
}

/**
 * gitignore rules, as .gcloudignore uses them: last matching line wins, "!" re-includes, a trailing "/"
 * matches only folders, a pattern with a "/" before its end is anchored to the root, "*" and "?" stay
 * within one path segment, "**" spans segments, and nothing inside an ignored folder is re-included.
 */
export function parseIgnore(text: string): IgnoreMatcher {
  const rules = text.split(/\r?\n/).flatMap((line) => {
    const rule = compileLine(line);
    return rule ? [rule] : [];
  });
  const decide = (path: string, isDir: boolean): boolean | undefined => {
    let ignored: boolean | undefined;
    for (const rule of rules) {
      if (rule.dirOnly && !isDir) continue;
      if (rule.re.test(path)) ignored = !rule.negate;
    }
    return ignored;
  };
  return (relPath, isDir) => {
    const parts = relPath.split("/").filter((p) => p !== "" && p !== ".");
    for (let i = 1; i < parts.length; i++) {
      if (decide(parts.slice(0, i).join("/"), true)) return true;
    }
    return decide(parts.join("/"), isDir) ?? false;
  };
}

/**
 * The ignore matcher for a folder: DEFAULT_IGNORES then its .stratignore (or .gcloudignore). A line
 * `#!include:FILE` pulls in another file's patterns (gcloud's way of reusing .gitignore).
 */
export async function loadIgnore(dir: string): Promise<IgnoreMatcher> {
  const lines = [...DEFAULT_IGNORES];
  for (const name of IGNORE_FILES) {
    const text = await readOptional(join(dir, name));
    if (text === undefined) continue;
    for (const line of text.split(/\r?\n/)) {
      const include = /^#!include:(.+)$/.exec(line.trim());
      if (include) lines.push(...((await readOptional(join(dir, include[1]!.trim()))) ?? "").split(/\r?\n/));
      else lines.push(line);
    }
    break;
  }
  return parseIgnore(lines.join("\n"));
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function compileLine(line: string): Rule | undefined {
  let p = line.replace(/(?<!\\)\s+$/, "");
  if (p === "" || p.startsWith("#")) return undefined;
  let negate = false;
  if (p.startsWith("!")) {
    negate = true;
    p = p.slice(1);
  } else if (p.startsWith("\\!") || p.startsWith("\\#")) {
    p = p.slice(1);
  }
  const dirOnly = p.endsWith("/");
  if (dirOnly) p = p.replace(/\/+$/, "");
  if (p === "") return undefined;
  const anchored = p.includes("/");
  if (p.startsWith("/")) p = p.slice(1);
  const body = globToRegex(p);
  const re = new RegExp(anchored ? `^${body}$` : `^(?:.*/)?${body}$`);
  return { re, negate, dirOnly };
}

function globToRegex(glob: string): string {
  let out = "";
  let i = 0;
  while (i < glob.length) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      const atStart = i === 0 || glob[i - 1] === "/";
      const atEnd = i + 2 === glob.length || glob[i + 2] === "/";
      if (atStart && atEnd) {
        if (i + 2 === glob.length) {
          // "x/**": everything inside x (at the very start, everything).
          out += ".*";
          i += 2;
        } else {
          // "**/": zero or more folders.
          out += "(?:.*/)?";
          i += 3;
        }
        continue;
      }
      out += "[^/]*";
      i += 2;
      continue;
    }
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "\\" && i + 1 < glob.length) {
      out += escapeRe(glob[i + 1]!);
      i++;
    } else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close === -1) out += "\\[";
      else {
        let cls = glob.slice(i + 1, close);
        const neg = cls.startsWith("!") || cls.startsWith("^");
        if (neg) cls = cls.slice(1);
        out += `(?!/)[${neg ? "^" : ""}${cls.replace(/\\/g, "\\\\").replace(/\]/g, "\\]")}]`;
        i = close;
      }
    } else out += escapeRe(c);
    i++;
  }
  return out;
}

function escapeRe(c: string): string {
  return /[.+^${}()|[\]\\/*?]/.test(c) ? `\\${c}` : c;
}
