/**
 * Under gVisor the app's processes are not host processes: the host's pids cgroup counts the sandbox's own
 * tasks (sentry and gofer threads, 45 when idle, measured with runsc 2022-12-19 on ptrace) plus, per app
 * process, its ptrace stub and the sentry threads serving it (about 7 per sleeping child, measured). The
 * instance's `pids` is turned into a host task budget that stops a fork bomb at fewer than `pids` app
 * processes (measured: pids 32 -> 29 children before fork fails, pids 128 -> 107).
 */
export const SANDBOX_TASKS = 64;
export const TASKS_PER_APP_PROCESS = 6;

export function hostPidsLimit(appPids: number): number {
  return SANDBOX_TASKS + TASKS_PER_APP_PROCESS * appPids;
}

/** Rewrites config.json's pids limit (when there is one) into the host task budget. */
export function applyHostPidsBudget(config: Record<string, unknown>, appPids: number): void {
  const linux = config.linux as { resources?: { pids?: { limit: number } } } | undefined;
  if (linux?.resources?.pids && appPids > 0) linux.resources.pids = { limit: hostPidsLimit(appPids) };
}
