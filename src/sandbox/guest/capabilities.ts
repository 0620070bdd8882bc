import type { Capabilities, IsolationKind } from "../driver.js";

/**
 * The capabilities of a driver whose every instance is a guest of its own (microvm, vm, xen, kata): OCI
 * images, the instance's own network namespace, a VMM (or domain) per instance that outlives the daemon
 * and is re-adopted by the next one, a cold start of seconds. Memory is always limited: the app's cgroup
 * inside the guest, and the guest's RAM. `cpu`: the VMM's cgroup quota caps the vCPUs. `pids`: the guest
 * puts the app under a pids limit; without it pids inside the guest are the guest's own, and a fork bomb
 * exhausts the guest, not the host. Every such guest runs Strata's init, which serves `strata exec`.
 */
export function guestCapabilities(isolation: IsolationKind, limits: { readonly cpu: boolean; readonly pids: boolean }): Capabilities {
  return Object.freeze({
    isolation,
    imageKinds: Object.freeze(["oci"] as const),
    ownNetns: true,
    sharedProcess: false,
    limits: Object.freeze({ memory: true, cpu: limits.cpu, pids: limits.pids }),
    recoverable: true,
    coldStart: "seconds",
    // Through the guest init's exec port (exec-channel.ts).
    exec: true,
  });
}
