/**
 * Injected into a nodejs_compat worker's bundle (esbuild `inject`): the `Buffer` and `process` globals that
 * nodejs_compat gives a worker with a compatibility date from 2024-09-23 on (nodejs_compat_v2), as the
 * same objects node:buffer and node:process export.
 */
import { Buffer } from "node:buffer";
import process from "node:process";

const g = globalThis as Record<string, unknown>;
for (const [name, value] of [["Buffer", Buffer], ["process", process]] as const) {
  if (g[name] === undefined) Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}

export { Buffer, process };
