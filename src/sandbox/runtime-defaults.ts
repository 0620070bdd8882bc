import type { DriverName } from "./driver.js";

/**
 * The one table of which sandbox runs which language by default (app.yaml `sandbox:` overrides it). The
 * order of preference matters when a default is unavailable on a host: the first available one is used.
 */
export const DEFAULT_SANDBOX: Readonly<Record<string, readonly DriverName[]>> = {
  python: ["runc", "crun", "gvisor"],
  nodejs: ["runc", "crun", "gvisor"],
  ruby: ["runc", "crun", "gvisor"],
  docker: ["runc", "crun", "gvisor"],
  go: ["gvisor", "runc"],
  workers: ["isolate"],
  php: ["lxc", "runc"],
  // Not kata or vm by default yet: under TCG (no /dev/kvm that runs guests, as here) examples/java-app took
  // 93 s to its first 200 in kata and 51 s to its Spring context in a vm, missing the 120 s readiness
  // budget on a loaded host. `sandbox: kata` or `sandbox: vm` asks for them.
  java: ["runc"],
  elixir: ["microvm", "runc"],
  os: ["lxd"],
  // Hosted functions (Lambda's model). Not microvm by default while it runs under TCG, as here (bench/results
  // 2026-12-06 functions, load ~9): a microVM's cold boot took 37-63 s (past the activator's 30 s wait),
  // a restore from its snapshot 7-11 s to the answer, and a warm invoke 60-90x runc's. Snapshots make
  // microvm cold starts bearable only where it runs on KVM, which no host here has measured yet.
  function: ["runc", "crun", "gvisor"],
  rust: ["vm", "runc"],
  c: ["xen", "vm", "runc"],
  cpp: ["xen", "vm", "runc"],
};

/**
 * Tried before DEFAULT_SANDBOX, and only where the driver's probe says its guests run on KVM (`accelerated`):
 * there a microVM boots in about a second and restores a snapshot in milliseconds (Firecracker's design
 * figures), so functions get Lambda's isolation and Java Kata's. Under TCG, as on every host measured so far,
 * the cold starts above keep them off the default.
 */
export const ACCELERATED_SANDBOX: Readonly<Record<string, readonly DriverName[]>> = {
  function: ["microvm"],
  java: ["kata"],
};
