import { randomBytes } from "node:crypto";

/** Spare keys use a `.`, which instance ids cannot contain, so the two never collide. */
const SPARE_PREFIX = "sp.";

export function isSpareKey(key: string): boolean {
  return key.startsWith(SPARE_PREFIX);
}

/** `sp.` + 8 hex digits: unique across daemons sharing a home. */
function newSpareKey(): string {
  return `${SPARE_PREFIX}${randomBytes(4).toString("hex")}`;
}

/** After a failed make, the pool waits this long before trying again (attach makes namespaces itself meanwhile). */
const RETRY_AFTER_MS = 30_000;

export interface SparePoolOptions {
  /** How many ready spares to keep. */
  readonly size: number;
  /** Makes the spare called `key` (throws, having removed what it made, when it cannot). */
  make(key: string): Promise<void>;
  /** Told of a failed make; the pool stops for RETRY_AFTER_MS. */
  onError(err: unknown): void;
}

/**
 * A few ready-made things of which each is used once, made in the background so the caller's hot path
 * only takes one (HostNetwork keeps network namespaces this way: making one costs 40-70 ms of `ip` and
 * kernel work, claiming a spare one file write). One fill runs at a time; the pool never makes more than `size`.
 */
export class SparePool {
  private readonly ready: string[] = [];
  private readonly making = new Set<string>();
  private filling: Promise<void> | undefined;
  private closed = false;
  private pausedUntil = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SparePoolOptions) {}

  get readyCount(): number {
    return this.ready.length;
  }

  /** A ready spare, now the caller's, or undefined when none is ready. */
  take(): string | undefined {
    return this.ready.shift();
  }

  /** Whether `key` is one of this pool's spares (ready or being made): a sweep must leave it alone. */
  owns(key: string): boolean {
    return this.making.has(key) || this.ready.includes(key);
  }

  /** Starts making spares in the background up to `size`, unless already doing so. */
  private refill(): void {
    if (this.closed || this.filling || this.opts.size <= 0 || Date.now() < this.pausedUntil) return;
    if (this.ready.length >= this.opts.size) return;
    this.filling = this.fill().finally(() => {
      this.filling = undefined;
    });
  }

  /**
   * refill() after `delayMs`: making spares right after one was taken would compete for the CPU with the
   * cold start that took it (runc create is CPU-bound, and a small host has two cores).
   */
  refillLater(delayMs: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
    }, delayMs);
    this.timer.unref();
  }

  /** Stops filling and hands back the ready spares, for the owner to remove; refill() works again after reopen(). */
  async drain(): Promise<string[]> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.filling;
    return this.ready.splice(0);
  }

  reopen(): void {
    this.closed = false;
  }

  private async fill(): Promise<void> {
    while (!this.closed && this.ready.length < this.opts.size) {
      const key = newSpareKey();
      this.making.add(key);
      try {
        await this.opts.make(key);
        this.ready.push(key);
      } catch (err) {
        this.pausedUntil = Date.now() + RETRY_AFTER_MS;
        this.opts.onError(err);
        return;
      } finally {
        this.making.delete(key);
      }
    }
  }
}
