/**
 * node:process under nodejs_compat, bundled into a worker by the isolate builder (not part of the engine):
 * what workerd's has for a 2025 compatibility date (env, exit, features, getBuiltinModule, nextTick,
 * platform), no more, so that libraries that probe for Node (process.versions.node) take their Workers
 * paths, as under workerd. getBuiltinModule answers for the compat modules the bundle holds. process.env
 * holds the worker's [vars] as text (JSON ones as their JSON) where workerd's does: from compatibility date
 * 2025-04-01 on, or with nodejs_compat_populate_process_env (the engine sets them before the worker runs).
 */
import { getBuiltinModule } from "./builtins.js";

/** Set by the builder: whether process.env holds the worker's text bindings (see node-compat.ts). */
declare const __STRATA_PROCESS_ENV__: boolean;
const bindings = (globalThis as unknown as Record<symbol, Record<string, string> | undefined>)[Symbol.for("strata.env")];
const env: Record<string, string> = __STRATA_PROCESS_ENV__ && bindings ? { ...bindings } : {};

function nextTick(fn: (...args: unknown[]) => void, ...args: unknown[]): void {
  queueMicrotask(() => fn(...args));
}

const platform = "linux";

function exit(code?: number): never {
  throw new Error(`process.exit(${code ?? ""}) is not supported: a worker answers its request instead`);
}

/** Node's feature booleans, for this runtime: no TLS sockets, no inspector; hashes are OpenSSL's (the engine's). */
const features = Object.freeze({
  cached_builtins: true, debug: false, inspector: false, ipv6: true, openssl_is_boringssl: false, require_module: false,
  tls: false, tls_alpn: false, tls_ocsp: false, tls_sni: false, typescript: false, uv: false,
});

const processObject = { env, exit, features, getBuiltinModule, nextTick, platform };
export default processObject;
export { env, exit, features, getBuiltinModule, nextTick, platform };
