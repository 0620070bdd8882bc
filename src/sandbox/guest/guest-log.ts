import { open, readFile, writeFile } from "node:fs/promises";
import { ignoreMissing } from "../../system/fs.js";
import { parseGuestEvent, type GuestEvent } from "./protocol.js";

const POLL_MS = 50;

/**
 * Follows the guest's event file (the log port, appended by the VMM) from a saved offset: each whole
 * line goes to `onEvent`, and the offset after it is kept in `offsetFile`, so a restarted daemon goes on
 * where the last one stopped, neither losing nor repeating lines.
 */
export class GuestLogFollower {
  private offset = 0;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly file: string,
    private readonly offsetFile: string,
    private readonly onEvent: (e: GuestEvent) => void,
  ) {}

  async start(): Promise<void> {
    this.offset = Number(await readFile(this.offsetFile, "utf8").catch(ignoreMissing("0"))) || 0;
    await this.readOnce();
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  /** Reads what is there now (so an exit is not missed), then stops. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.reading;
    if (!this.stopped) await this.readOnce();
    this.stopped = true;
  }

  private poll(): void {
    this.reading ??= this.readOnce().finally(() => (this.reading = undefined));
  }

  private async readOnce(): Promise<void> {
    if (this.stopped) return;
    const fh = await open(this.file, "r").catch(ignoreMissing(null));
    if (!fh) return;
    try {
      const size = (await fh.stat()).size;
      if (size <= this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
      const text = buf.subarray(0, bytesRead);
      const lastNl = text.lastIndexOf(0x0a);
      if (lastNl < 0) return;
      for (const line of text.subarray(0, lastNl).toString("utf8").split("\n")) {
        const event = parseGuestEvent(line);
        if (event) this.onEvent(event);
      }
      this.offset += lastNl + 1;
      await writeFile(this.offsetFile, String(this.offset));
    } finally {
      await fh.close();
    }
  }
}

export type GuestExit = Extract<GuestEvent, { t: "exit" }>;

/** The guest's exit, read from the end of its event file (also when no follower runs in this process). */
export async function lastGuestExit(file: string): Promise<GuestExit | undefined> {
  const fh = await open(file, "r").catch(ignoreMissing(null));
  if (!fh) return undefined;
  try {
    const size = (await fh.stat()).size;
    const len = Math.min(size, 64 << 10);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    for (const line of buf.toString("utf8").split("\n").reverse()) {
      const e = parseGuestEvent(line);
      if (e?.t === "exit") return e;
    }
    return undefined;
  } finally {
    await fh.close();
  }
}
