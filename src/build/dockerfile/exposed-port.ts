import type { ImageRuntimeConfig } from "../../images/index.js";

/**
 * The port an image says it serves on: its one exposed TCP port (`EXPOSE 8080` → 8080). Undefined when it
 * exposes none or several, where the platform keeps its default PORT.
 */
export function exposedPort(config: ImageRuntimeConfig): number | undefined {
  const tcp = Object.keys(config.ExposedPorts ?? {})
    .map((p) => /^(\d+)(?:\/tcp)?$/.exec(p)?.[1])
    .filter((p): p is string => p !== undefined);
  return tcp.length === 1 ? Number(tcp[0]) : undefined;
}
