import type { GvisorPlatform } from "./platform.js";

/**
 * Under gVisor the app's processes are not host processes: the host's pids cgroup counts the sandbox's own
 * tasks (sentry and gofer threads) plus, per app process, what the platform adds on the host (a ptrace stub
 * and the sentry threads serving it; systrap's stub threads). The instance's `pids` is turned into a host
 * task budget that stops a fork bomb at fewer than `pids` app processes. Measured on kernel 6.18 with
 * sleeping children:
 * - pinned runsc, systrap: 26 tasks idle (sh + sleep), +2.2 per child -> 16 + 2/process (pids 32: ~26 apps)
 * - pinned runsc, ptrace: 37 idle, +9.8 per child -> 16 + 9/process (pids 32: ~29 apps)
 * - Debian's runsc 2022-12-19, ptrace: 45 idle, ~7 per child -> 64 + 6/process (pids 32 -> 29, 128 -> 107)
 * kvm (not runnable on the measuring host) gets systrap's budget: no stub processes, vCPU threads instead.
 */
export interface TaskBudget {
  readonly sandbox: number;
  readonly perAppProcess: number;
}

const PINNED_SYSTRAP: TaskBudget = { sandbox: 16, perAppProcess: 2 };
const PINNED_PTRACE: TaskBudget = { sandbox: 16, perAppProcess: 9 };
const DEBIAN_PTRACE: TaskBudget = { sandbox: 64, perAppProcess: 6 };

export function taskBudget(platform: GvisorPlatform, pinnedRunsc: boolean): TaskBudget {
  if (!pinnedRunsc) return DEBIAN_PTRACE;
  return platform === "ptrace" ? PINNED_PTRACE : PINNED_SYSTRAP;
}

export function hostPidsLimit(appPids: number, budget: TaskBudget): number {
  return budget.sandbox + budget.perAppProcess * appPids;
}

/** Rewrites config.json's pids limit (when there is one) into the host task budget. */
export function applyHostPidsBudget(config: Record<string, unknown>, appPids: number, budget: TaskBudget): void {
  const linux = config.linux as { resources?: { pids?: { limit: number } } } | undefined;
  if (linux?.resources?.pids && appPids > 0) linux.resources.pids = { limit: hostPidsLimit(appPids, budget) };
}
