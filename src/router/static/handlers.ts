import { handlerUrlRegExp } from "../../config/index.js";
import { StrataError } from "../../errors.js";

/**
 * The fields of an app.yaml `handlers` entry the static server reads (config/ validates the file; this
 * is the minimal shape, so router does not depend on the schema's details).
 */
export interface Handler {
  url: string;
  static_dir?: string;
  static_files?: string;
  upload?: string;
  script?: string;
  secure?: "optional" | "never" | "always";
  redirect_http_response_code?: 301 | 302 | 303 | 307;
  http_headers?: Record<string, string>;
  expiration?: string;
  mime_type?: string;
}

export interface CompiledHandler {
  handler: Handler;
  index: number;
  /** Anchored to the whole path; for static_dir its last group is the path below the folder. */
  url: RegExp;
  upload?: RegExp;
}

export interface HandlerMatch {
  handler: Handler;
  index: number;
  /** The url regex's groups, \1 first ("" for a group that did not take part). */
  captures: string[];
  /** The tree path to serve for a static handler; undefined when the handler sends the request to the app. */
  file?: string;
  /** True for a `script` handler: the request goes to the app. */
  forward: boolean;
}

/** config/ validated the patterns already; a handler list from elsewhere gets a clear error too. */
function compile(field: "url" | "upload", handler: Handler, index: number): RegExp {
  try {
    return field === "url" ? handlerUrlRegExp(handler) : new RegExp(`^(?:${handler.upload})$`);
  } catch (err) {
    throw new StrataError("INVALID_CONFIG", `handlers[${index}].${field} is not a valid regular expression: ${(err as Error).message}`, {
      path: `handlers[${index}].${field}`,
      value: handler[field],
    });
  }
}

/** Compiles every handler's patterns once, when a version's site is loaded. */
export function compileHandlers(handlers: readonly Handler[]): CompiledHandler[] {
  return handlers.map((handler, index) => {
    const compiled: CompiledHandler = { handler, index, url: compile("url", handler, index) };
    if (handler.upload !== undefined) compiled.upload = compile("upload", handler, index);
    return compiled;
  });
}

/**
 * The first handler, in order, whose url matches `urlPath` (a decoded, normalised path starting with
 * "/"), and the file it names. A static handler whose file would fall outside its folder, or not match
 * its `upload` pattern, yields a match with no file (a 404), as App Engine would never have uploaded it.
 */
export function matchHandler(compiled: readonly CompiledHandler[], urlPath: string): HandlerMatch | null {
  for (const c of compiled) {
    const { handler } = c;
    const m = c.url.exec(urlPath);
    if (!m) continue;
    const captures = m.slice(1).map((g) => g ?? "");
    if (handler.static_dir !== undefined) {
      const rest = captures.at(-1) ?? "";
      const file = rest === "" ? undefined : joinInside(trimSlashes(handler.static_dir), rest);
      return { handler, index: c.index, captures, forward: false, ...(file !== undefined && allowed(c, file) ? { file } : {}) };
    }
    if (handler.static_files === undefined) return { handler, index: c.index, captures, forward: true };
    const target = handler.static_files.replace(/\\(\d)/g, (_, d: string) => captures[Number(d) - 1] ?? "");
    const file = joinInside("", target);
    return { handler, index: c.index, captures, forward: false, ...(file !== undefined && allowed(c, file) ? { file } : {}) };
  }
  return null;
}

function allowed(c: CompiledHandler, file: string): boolean {
  return c.upload === undefined || c.upload.test(file);
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, "");
}

/** `base/rest` normalised; undefined if `..` would leave `base` or the result names a folder. */
function joinInside(base: string, rest: string): string | undefined {
  const parts = base === "" ? [] : base.split("/").filter((p) => p !== "" && p !== ".");
  const floor = parts.length;
  for (const seg of rest.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length === floor) return undefined;
      parts.pop();
    } else parts.push(seg);
  }
  if (parts.length === floor || rest.endsWith("/")) return undefined;
  return parts.join("/");
}
