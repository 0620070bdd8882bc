/**
 * The nodejs_compat modules a worker's bundle holds, by name, for process.getBuiltinModule(): the builder
 * wraps each compat module so that it registers its default export (what `require("node:x")` gives) here.
 */
const modules = new Map<string, unknown>();

export function registerBuiltin(name: string, exports: unknown): void {
  modules.set(name, exports);
}

/** A module the bundle holds ("node:events" or "events"); undefined for any other, as Node's for an unknown id. */
export function getBuiltinModule(id: string): unknown {
  return modules.get(String(id).replace(/^node:/, ""));
}
