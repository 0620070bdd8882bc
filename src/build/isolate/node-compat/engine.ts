/**
 * The engine's Node code, as the nodejs_compat modules bundled into a worker reach it: the prelude keeps
 * the engine's function under a symbol (sandbox/isolate/engine/node-bridge.ts answers). An error comes back
 * as its name, code and message, and is thrown here again as the same kind of error, as Node throws it.
 */
type Answer = { value: unknown } | { error: { name: string; code?: string; message: string } };
interface Engine { call(op: string, ...args: unknown[]): Answer }

const engine = (globalThis as unknown as Record<symbol, Engine | undefined>)[Symbol.for("strata.node-compat")];

const KINDS: Record<string, ErrorConstructor> = { TypeError, RangeError, SyntaxError, URIError };

export function engineCall<T>(op: string, ...args: unknown[]): T {
  if (!engine) throw new Error(`node compatibility: ${op} needs Strata's isolate engine`);
  const a = engine.call(op, ...args);
  if ("value" in a) return a.value as T;
  const err = new (KINDS[a.error.name] ?? Error)(a.error.message);
  if (a.error.code !== undefined) Object.defineProperty(err, "code", { value: a.error.code, enumerable: true, writable: true, configurable: true });
  throw err;
}
