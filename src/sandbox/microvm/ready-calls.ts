/**
 * Readiness the scheduler reports (SandboxDriver.ready), for instances whose snapshot waits for it: a
 * function's runtime listens on no port, so only the scheduler, which sees it ask the Runtime API for
 * work, knows when its init is done.
 */
export class ReadyCalls {
  private readonly waiting = new Map<string, () => void>();

  /** Resolves true once ready(id) is called, false when `signal` aborts first. */
  wait(id: string, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.waiting.delete(id);
        resolve(false);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.set(id, () => {
        signal.removeEventListener("abort", onAbort);
        resolve(true);
      });
    });
  }

  /** Reports `id` ready; false when nothing waited for it. */
  ready(id: string): boolean {
    const go = this.waiting.get(id);
    if (!go) return false;
    this.waiting.delete(id);
    go();
    return true;
  }
}
