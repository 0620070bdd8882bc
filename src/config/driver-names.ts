/**
 * The one list of sandbox driver names: app.yaml `sandbox:` accepts these, and src/sandbox's drivers and
 * host probes are keyed by them. It lives in config, which imports no other layer, so both can use it.
 */
export const DRIVER_NAMES = ["runc", "crun", "gvisor", "isolate", "microvm", "lxc", "lxd", "vm", "kata", "xen", "k8s"] as const;

export type DriverName = (typeof DRIVER_NAMES)[number];

export function isDriverName(name: string): name is DriverName {
  return (DRIVER_NAMES as readonly string[]).includes(name);
}
