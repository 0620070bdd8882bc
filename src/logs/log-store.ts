import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { open, rename, stat } from "node:fs/promises";
import { join } from "node:path";

/** An access line (one per request through the router) or a line an instance wrote. */
export type LogLine =
  | {
      kind: "access";
      time: string;
      app: string;
      version: string;
      method: string;
      path: string;
      status: number;
      bytes: number;
      latencyMs: number;
      instance?: string;
      /** Set when the router answered with an error itself: the id the client got, and the detail it did not. */
      requestId?: string;
      error?: string;
    }
  | { kind: "app"; time: string; app: string; version: string; instance: string; stream: "stdout" | "stderr"; line: string };

const ROTATE_BYTES = 64 * 1024 * 1024;
const TAIL_READ_BYTES = 1024 * 1024;

/**
 * Keeps each app's lines in a JSON-lines file under STRATA_HOME/logs and hands new lines to live
 * followers. Writes go through a buffered stream so that logging a request costs the router no syscall.
 */
export class LogStore {
  private readonly dir: string;
  private readonly streams = new Map<string, { stream: WriteStream; bytes: number }>();
  private readonly followers = new Map<string, Set<(l: LogLine) => void>>();

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  private fileOf(app: string): string {
    return join(this.dir, `${app}.jsonl`);
  }

  append(line: LogLine): void {
    const text = JSON.stringify(line) + "\n";
    const entry = this.streamFor(line.app);
    entry.stream.write(text);
    entry.bytes += text.length;
    if (entry.bytes > ROTATE_BYTES) this.rotate(line.app);
    const fs = this.followers.get(line.app);
    if (fs) for (const f of fs) f(line);
  }

  /** The last `limit` lines of an app, oldest first. */
  async recent(app: string, limit: number): Promise<LogLine[]> {
    await this.flush(app);
    let fh;
    try {
      fh = await open(this.fileOf(app), "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    try {
      const size = (await fh.stat()).size;
      const start = Math.max(0, size - TAIL_READ_BYTES);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      const lines = buf.toString("utf8").split("\n").filter(Boolean);
      if (start > 0) lines.shift(); // the first line may be cut
      return lines.slice(-limit).map((l) => JSON.parse(l) as LogLine);
    } finally {
      await fh.close();
    }
  }

  follow(app: string, listener: (l: LogLine) => void): () => void {
    let set = this.followers.get(app);
    if (!set) this.followers.set(app, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Closes the app's file and removes its followers (the app was deleted); the file is kept. */
  async closeApp(app: string): Promise<void> {
    await this.flush(app);
    const entry = this.streams.get(app);
    this.streams.delete(app);
    if (entry) await new Promise<void>((r) => entry.stream.end(r));
    this.followers.delete(app);
  }

  async close(): Promise<void> {
    await Promise.all([...this.streams.keys()].map((a) => this.closeApp(a)));
  }

  private streamFor(app: string): { stream: WriteStream; bytes: number } {
    let entry = this.streams.get(app);
    if (!entry) {
      const stream = createWriteStream(this.fileOf(app), { flags: "a" });
      entry = { stream, bytes: 0 };
      this.streams.set(app, entry);
      const e = entry;
      void stat(this.fileOf(app)).then(
        (s) => (e.bytes += s.size),
        () => undefined, // a new file: nothing to add
      );
    }
    return entry;
  }

  private rotate(app: string): void {
    const entry = this.streams.get(app);
    if (!entry) return;
    this.streams.delete(app);
    const file = this.fileOf(app);
    entry.stream.end(() => {
      void rename(file, `${file}.1`);
    });
  }

  /** Waits until the app's buffered lines are in its file (write callbacks run in order). */
  private async flush(app: string): Promise<void> {
    const entry = this.streams.get(app);
    if (!entry || entry.stream.writableLength === 0) return;
    // Not "drain": that comes only after a write found the buffer full, so a short backlog never sees it.
    await new Promise<void>((resolve, reject) => entry.stream.write("", (err) => (err ? reject(err) : resolve())));
  }
}
