import type { Instance, SandboxDriver, SnapshotOutcome } from "../sandbox/index.js";
import { within, type Clock } from "./clock.js";
import type { StartBudget } from "./readiness.js";

/** How often a deploy waiting on a slow start says it still waits. */
export const PROGRESS_EVERY_MS = 15_000;

/** Calls `say(elapsedMs)` every `everyMs` on `clock` until the returned function is called. */
export function sayEvery(clock: Clock, everyMs: number, say: (elapsedMs: number) => void): () => void {
  const began = clock.now();
  let cancel = (): void => undefined;
  const arm = (): void => {
    cancel = clock.timer(everyMs, () => {
      say(clock.now() - began);
      arm();
    });
  };
  arm();
  return () => cancel();
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * The deploy's warm-up on a driver that snapshots (microvm, vm, kata with snapshots on), as Lambda SnapStart
 * does at publish time: the driver sends the version's first booted instance its first request and
 * snapshots it once answered; this waits for that (within the app's start budget) and says what became
 * of it, so the deploy ends with the snapshot a scale from zero restores. Nothing when no snapshot is
 * being taken (snapshots off, a driver without them).
 */
export async function awaitSnapshot(
  driver: SandboxDriver, instances: readonly Instance[], budget: StartBudget, clock: Clock, log: (line: string) => void,
  /** What the instance does before its snapshot: an app answers its first request; a function's runtime asks for work. */
  kind: "app" | "function",
  /**
   * Counts the driver's first request as in flight on the instance until the snapshot settles, so that
   * no scale-down (a short idle_timeout) stops it mid-way; returns the release.
   */
  hold: (instance: Instance) => () => void,
): Promise<void> {
  for (const instance of instances) {
    const outcome = driver.snapshotted?.(instance);
    if (!outcome) continue;
    const release = hold(instance);
    log(kind === "app"
      ? `snapshot: sending ${instance.id} its first request, then snapshotting it so later starts restore instead of booting`
      : `snapshot: ${instance.id} is snapshotted before its first invocation, so later starts restore instead of booting`);
    const stop = sayEvery(clock, PROGRESS_EVERY_MS, (ms) => log(`snapshot: still under way (${Math.round(ms / 1000)} s)`));
    const found = await within<SnapshotOutcome | undefined>(clock, budget.ms, outcome, () => undefined).finally(() => {
      stop();
      release();
    });
    log(describe(found, budget, kind === "app" ? "answered its first request" : "asked for its first invocation"));
    return;
  }
}

function describe(o: SnapshotOutcome | undefined, budget: StartBudget, warmedUp: string): string {
  if (!o) return `snapshot: not written within ${budget.ms / 1000} s; it goes on in the background (strata events says when a start restores it)`;
  if (o.kind === "exists") return "snapshot: this version already has one; later starts restore it";
  if (o.kind === "none") return `snapshot: none taken (${o.reason}); later starts boot`;
  return `snapshot: ${warmedUp} ${seconds(o.answeredMs)} after it started; snapshot taken in ${seconds(o.tookMs)} (${Math.round(o.bytes / 1024 / 1024)} MiB): a scale from zero restores it`;
}
