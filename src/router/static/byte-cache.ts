/**
 * Small files' bytes kept in memory, least recently used evicted first, bounded by total bytes. One
 * instance is shared by every site (keys are blob paths, so equal content across sites is held once).
 */
export class ByteCache {
  readonly maxBytes: number;
  /** Files larger than this are streamed from disk, never cached. */
  readonly maxEntryBytes: number;
  private readonly entries = new Map<string, Buffer>();
  private total = 0;

  constructor(opts: { maxBytes?: number; maxEntryBytes?: number } = {}) {
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.maxEntryBytes = Math.min(opts.maxEntryBytes ?? 1024 * 1024, this.maxBytes);
  }

  get bytes(): number {
    return this.total;
  }

  get(key: string): Buffer | undefined {
    const buf = this.entries.get(key);
    if (buf !== undefined) {
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.entries.delete(key);
      this.entries.set(key, buf);
    }
    return buf;
  }

  set(key: string, buf: Buffer): void {
    if (buf.length > this.maxEntryBytes) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.total -= old.length;
      this.entries.delete(key);
    }
    this.entries.set(key, buf);
    this.total += buf.length;
    for (const [k, v] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(k);
      this.total -= v.length;
    }
  }
}
