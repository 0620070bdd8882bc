import { host } from "./host.js";

/** console.*: each call becomes one line of the instance's log (stdout for log/info/debug, else stderr). */
export function inspect(value: unknown, depth = 0, seen = new Set<unknown>()): string {
  if (typeof value === "string") return depth === 0 ? value : JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "function") return `[Function: ${value.name || "anonymous"}]`;
  if (value === null || typeof value !== "object") return String(value);
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  if (seen.has(value)) return "[Circular]";
  if (depth > 3) return Array.isArray(value) ? "[Array]" : "[Object]";
  seen.add(value);
  try {
    if (Array.isArray(value)) return `[ ${value.map((v) => inspect(v, depth + 1, seen)).join(", ")} ]`;
    if (value instanceof Map) return `Map(${value.size}) { ${[...value].map(([k, v]) => `${inspect(k, depth + 1, seen)} => ${inspect(v, depth + 1, seen)}`).join(", ")} }`;
    if (value instanceof Set) return `Set(${value.size}) { ${[...value].map((v) => inspect(v, depth + 1, seen)).join(", ")} }`;
    if (value instanceof Date) return value.toISOString();
    if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.byteLength})`;
    const name = value.constructor && value.constructor !== Object ? `${value.constructor.name} ` : "";
    const body = Object.entries(value).map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${inspect(v, depth + 1, seen)}`);
    return body.length ? `${name}{ ${body.join(", ")} }` : `${name}{}`;
  } finally {
    seen.delete(value);
  }
}

function format(args: unknown[]): string {
  const first = args[0];
  if (typeof first === "string" && /%[sdifjoOc%]/.test(first)) {
    let i = 1;
    const head = first.replace(/%([sdifjoOc%])/g, (m, f: string) => {
      if (f === "%") return "%";
      if (i >= args.length) return m;
      const a = args[i++];
      if (f === "s") return typeof a === "string" ? a : inspect(a, 1);
      if (f === "d" || f === "i") return String(f === "i" ? Math.trunc(Number(a)) : Number(a));
      if (f === "f") return String(Number(a));
      if (f === "j") return JSON.stringify(a);
      if (f === "c") return "";
      return inspect(a, 1);
    });
    return [head, ...args.slice(i).map((a) => inspect(a))].join(" ");
  }
  return args.map((a) => inspect(a)).join(" ");
}

function emit(stream: "stdout" | "stderr", args: unknown[]): void {
  for (const line of format(args).split("\n")) host.log(stream, line);
}

export const console = {
  log: (...a: unknown[]) => emit("stdout", a),
  info: (...a: unknown[]) => emit("stdout", a),
  debug: (...a: unknown[]) => emit("stdout", a),
  trace: (...a: unknown[]) => emit("stderr", a),
  warn: (...a: unknown[]) => emit("stderr", a),
  error: (...a: unknown[]) => emit("stderr", a),
};

/** An error nobody caught (timer callback, waitUntil promise): logged to stderr. */
export function reportError(e: unknown): void {
  emit("stderr", ["Uncaught", e]);
}
