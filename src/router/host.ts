/** Where a request's Host header points: an app, optionally pinned to one version. */
export interface HostTarget {
  app: string;
  version?: string;
}

/**
 * App Engine's addressing: `{app}.{domain}`, `{version}-dot-{app}.{domain}`, and the bare domain for
 * the default app. Returns null for a host outside the domain.
 */
export function parseHost(hostHeader: string | undefined, domain: string, defaultApp: string | undefined): HostTarget | null {
  if (!hostHeader) return null;
  let host = hostHeader.toLowerCase();
  // Strip the port (but not from a bracketed IPv6 literal's inside).
  const colon = host.lastIndexOf(":");
  if (colon > host.lastIndexOf("]")) host = host.slice(0, colon);
  if (host.endsWith(".")) host = host.slice(0, -1);
  if (host === domain) return defaultApp ? { app: defaultApp } : null;
  const suffix = "." + domain;
  if (!host.endsWith(suffix)) return null;
  const label = host.slice(0, -suffix.length);
  if (label.includes(".")) return null;
  const dot = label.indexOf("-dot-");
  if (dot > 0) return { app: label.slice(dot + 5), version: label.slice(0, dot) };
  return { app: label };
}

/** The label under the domain that function URLs live in: `NAME.fn.localhost`. */
export const FUNCTION_URL_LABEL = "fn";

/** The function a function-URL host names (`NAME.fn.{domain}`), or null for any other host. */
export function parseFunctionHost(hostHeader: string | undefined, domain: string): string | null {
  if (!hostHeader) return null;
  let host = hostHeader.toLowerCase();
  const colon = host.lastIndexOf(":");
  if (colon > host.lastIndexOf("]")) host = host.slice(0, colon);
  if (host.endsWith(".")) host = host.slice(0, -1);
  const suffix = `.${FUNCTION_URL_LABEL}.${domain}`;
  if (!host.endsWith(suffix)) return null;
  const name = host.slice(0, -suffix.length);
  return name && !name.includes(".") ? name : null;
}
