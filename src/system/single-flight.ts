/**
 * One run per key at a time: a caller that comes while a run for its key is under way gets that run's
 * promise (a drain racing an idle scale-down both stop the same instance, once).
 */
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const under = this.running.get(key);
    if (under) return under;
    const run = fn().finally(() => this.running.delete(key));
    this.running.set(key, run);
    return run;
  }

  /** A run for `key` is under way. */
  has(key: string): boolean {
    return this.running.has(key);
  }
}
