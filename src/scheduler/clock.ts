/**
 * Time, injected: the scheduler's parts read the time and set timers only through a Clock, so their
 * state machines are tested with a fake one (test/unit/scheduler/fake-clock.ts).
 */
export interface Clock {
  now(): number;
  /** Calls `fn` once after `ms`; the returned function cancels it. */
  timer(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  timer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** Resolves after `ms` on `clock`. */
export function delay(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.timer(ms, resolve));
}

/**
 * A condition others change (a slot's in-flight count, a version's queue): waiters are woken by
 * notify() instead of polling, and give up at a deadline.
 */
export class Signal {
  private readonly wakers = new Set<() => void>();

  notify(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /** Whether `holds()` became true before `deadline` (clock time). */
  async until(holds: () => boolean, deadline: number, clock: Clock): Promise<boolean> {
    while (!holds()) {
      const left = deadline - clock.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          cancel();
          this.wakers.delete(wake);
          resolve();
        };
        this.wakers.add(wake);
        const cancel = clock.timer(left, wake);
      });
    }
    return true;
  }
}

/**
 * `p`, or `onTimeout()` if it has not settled within `ms`: one slow driver call (an `inspect()` that
 * hangs) must not hold up what waits for it.
 */
export function within<T>(clock: Clock, ms: number, p: Promise<T>, onTimeout: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancel = clock.timer(ms, () => resolve(onTimeout()));
    p.then(
      (v) => {
        cancel();
        resolve(v);
      },
      (err: unknown) => {
        cancel();
        reject(err);
      },
    );
  });
}
