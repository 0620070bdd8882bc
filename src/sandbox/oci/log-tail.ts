import { open, readFile, stat, truncate, writeFile } from "node:fs/promises";
import type { InstanceIO } from "../driver.js";

const POLL_MS = 200;
const MAX_READ = 1 << 20;

/**
 * Follows a conmon k8s-file log (`<time> <stdout|stderr> <P|F> <text>` per record; P = partial line), or
 * with `rawStream` a plain file of one stream's lines,
 * and hands each complete line to InstanceIO.log. The read offset is saved next to the log, so a daemon
 * that restarts and recovers the instance continues where it stopped instead of repeating or skipping.
 * Polling (not inotify) because conmon replaces the file when it reaches its size cap; a smaller file or
 * a new inode means "start from the top of the new file".
 */
export class LogTail {
  private offset = 0;
  private ino = -1;
  private rest = "";
  private readonly partial = { stdout: "", stderr: "" };
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly offsetFile: string,
    private readonly io: InstanceIO,
    /** A plain file of one stream's output (the LXC driver's), instead of conmon's k8s-file records. */
    private readonly rawStream?: "stdout" | "stderr",
    /**
     * For a plain file its writer appends to (O_APPEND): once everything up to this size is read, the
     * file is emptied in place, so it never grows past it. What the writer adds between the last read and
     * the truncation is lost (microseconds); conmon's own files are capped by conmon instead.
     */
    private readonly truncateAt?: number,
  ) {}

  /** Starts following from the saved offset (0 for a new instance). */
  async start(): Promise<void> {
    const saved = await readFile(this.offsetFile, "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return "";
      throw err;
    });
    const [ino, off] = saved.split(" ").map(Number);
    if (ino !== undefined && off !== undefined && Number.isFinite(ino) && Number.isFinite(off)) {
      this.ino = ino;
      this.offset = off;
    }
    this.schedule();
  }

  /** Reads what is left, then stops. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.reading;
    await this.readOnce();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.reading = this.readOnce().then(
        () => {
          if (this.timer) this.schedule();
        },
        (err: unknown) => {
          this.io.log("stderr", `[strata] log capture stopped: ${(err as Error).message}`);
        },
      );
    }, POLL_MS);
    this.timer.unref();
  }

  private async readOnce(): Promise<void> {
    const st = await stat(this.file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
    if (!st) {
      // Not written yet; or, once seen, removed with its instance (by another driver object): stop following.
      if (this.ino !== -1 && this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      return;
    }
    if (st.ino !== this.ino || st.size < this.offset) {
      this.ino = st.ino;
      this.offset = 0;
      this.rest = "";
    }
    if (st.size === this.offset) return;
    const fh = await open(this.file, "r");
    try {
      while (this.offset < st.size) {
        const buf = Buffer.alloc(Math.min(MAX_READ, st.size - this.offset));
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        this.consume(buf.subarray(0, bytesRead).toString("utf8"));
      }
    } finally {
      await fh.close();
    }
    if (this.truncateAt !== undefined && this.offset >= this.truncateAt && this.rest === "") {
      await truncate(this.file, 0);
      this.offset = 0;
    }
    // Saved without the unfinished record at the end, which is read again after a restart.
    await writeFile(this.offsetFile, `${this.ino} ${this.offset - Buffer.byteLength(this.rest)}`);
  }

  private consume(text: string): void {
    const records = (this.rest + text).split("\n");
    this.rest = records.pop() ?? "";
    for (const record of records) {
      if (this.rawStream) {
        this.io.log(this.rawStream, record);
        continue;
      }
      // <timestamp> <stream> <tag> <text>: the text may itself contain spaces.
      const a = record.indexOf(" ");
      const b = record.indexOf(" ", a + 1);
      const c = record.indexOf(" ", b + 1);
      const stream = record.slice(a + 1, b);
      if (a < 0 || b < 0 || (stream !== "stdout" && stream !== "stderr")) continue;
      const tag = c < 0 ? record.slice(b + 1) : record.slice(b + 1, c);
      const body = c < 0 ? "" : record.slice(c + 1);
      if (tag === "P") {
        this.partial[stream] += body;
        continue;
      }
      this.io.log(stream, this.partial[stream] + body);
      this.partial[stream] = "";
    }
  }
}
