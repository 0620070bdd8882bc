/**
 * node:process under nodejs_compat, bundled into a worker by the isolate builder (not part of the engine):
 * what workerd's has for a 2025 compatibility date (env, nextTick, platform), no more, so that libraries
 * that probe for Node (process.versions.node) take their Workers paths, as under workerd.
 */
const env: Record<string, string> = {};

function nextTick(fn: (...args: unknown[]) => void, ...args: unknown[]): void {
  queueMicrotask(() => fn(...args));
}

const platform = "linux";

function exit(code?: number): never {
  throw new Error(`process.exit(${code ?? ""}) is not supported: a worker answers its request instead`);
}

const processObject = { env, nextTick, platform, exit };
export default processObject;
export { env, nextTick, platform, exit };
