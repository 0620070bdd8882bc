/**
 * node:process under nodejs_compat, bundled into a worker by the isolate builder (not part of the engine):
 * what workerd's has for a 2025 compatibility date (env, exit, features, getBuiltinModule, nextTick,
 * platform), no more, so that libraries that probe for Node (process.versions.node) take their Workers
 * paths, as under workerd. getBuiltinModule answers for the compat modules the bundle holds.
 */
import { getBuiltinModule } from "./builtins.js";

const env: Record<string, string> = {};

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
