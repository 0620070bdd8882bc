import type { IncomingMessage } from "node:http";

/**
 * Bytes held for the worker before the engine stops reading the client's socket. The kernel's socket
 * buffers hold back the client beyond that, so an upload occupies about this much engine memory
 * however large it is and however slowly the worker reads.
 */
const HIGH_WATER_BYTES = 64 * 1024;
const CLIENT_GONE = "the client closed the connection before the request body ended";
/** What a read of a body whose response is over fails with (the engine forgets the body then too). */
export const BODY_CLOSED = "the request body can no longer be read: the response was already sent";

/**
 * A request body as the worker reads it: the engine reads from the client only as the worker pulls
 * (the isolate's `request.body` calls read()), and at most `maxBytes` in all. Once the response is
 * over, close() discards whatever the client still sends, so the connection can serve the next
 * request.
 */
export class RequestBody {
  private chunks: Buffer[] = [];
  private queued = 0;
  private received = 0;
  private state: "open" | "ended" | "failed" | "closed" = "open";
  private failure = "";
  private wake: (() => void) | null = null;
  /** The server answered 413 and reads the rest itself: close() leaves the connection open. */
  private refusedAndDraining = false;
  /** The declared Content-Length: once that much arrived the body is whole, before node's "end" (a turn later). */
  private readonly length: number | null;

  constructor(
    private readonly req: IncomingMessage,
    private readonly maxBytes: number,
    /** The body went past maxBytes: the server answers 413 when the response has not begun. */
    private readonly onTooLarge: (message: string) => void,
  ) {
    const declared = req.headers["content-length"];
    this.length = declared === undefined ? null : Number(declared);
    req.on("data", (c: Buffer) => this.take(c));
    req.on("end", () => {
      if (this.state === "open") this.state = "ended";
      this.poke();
    });
    // Both mean the client went away before the body's end ("close" also follows a complete body).
    const gone = (): void => {
      if (!req.complete) this.fail(CLIENT_GONE);
    };
    req.on("error", gone);
    req.on("close", gone);
  }

  private take(c: Buffer): void {
    this.received += c.length;
    if (this.state === "failed") return; // paused: what was already buffered still arrives
    if (this.received > this.maxBytes) {
      if (this.state === "closed") {
        this.req.destroy(); // discarding more than the cap is not worth keeping the connection for
        return;
      }
      const message = `request body larger than ${this.maxBytes} bytes`;
      this.fail(message);
      this.onTooLarge(message);
      return;
    }
    if (this.state !== "open") return; // closed: discarded
    this.chunks.push(c);
    this.queued += c.length;
    if (this.queued >= HIGH_WATER_BYTES) this.req.pause();
    this.poke();
  }

  private fail(message: string): void {
    if (this.state !== "open") return;
    this.state = "failed";
    this.failure = message;
    this.chunks = [];
    this.queued = 0;
    this.req.pause(); // nothing further is read; the connection ends with the response
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /**
   * The whole body as one buffer when the client has already sent all of it (a small body that came
   * with the head): the worker gets it without calling back for it. Undefined otherwise.
   */
  takeWhole(): ArrayBuffer | null | undefined {
    if (this.state !== "ended" && !(this.state === "open" && this.received === this.length)) return undefined;
    this.state = "closed";
    return this.queued ? this.drain() : null;
  }

  /** The bytes received since the last read (at least one byte, waiting for it), or null at the body's end. */
  async read(): Promise<ArrayBuffer | null> {
    for (;;) {
      if (this.queued) {
        const bytes = this.drain();
        if (this.state === "open") this.req.resume();
        return bytes;
      }
      if (this.state === "ended") return null;
      if (this.state === "failed") throw new Error(this.failure);
      if (this.state === "closed") throw new Error(BODY_CLOSED);
      if (this.wake) throw new Error("the request body is already being read");
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private drain(): ArrayBuffer {
    // A fresh ArrayBuffer of exactly these bytes: socket chunks may be views into a larger buffer.
    const out = new Uint8Array(this.queued);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    this.chunks = [];
    this.queued = 0;
    return out.buffer;
  }

  /** The body went past the cap before the response began: the server drains the rest after its 413. */
  drainAfterRefusal(): void {
    this.refusedAndDraining = true;
  }

  /**
   * The response is over (or the worker cancelled the body): reads fail from now on and the rest of
   * the body is read off the socket and dropped. A body that failed (too large after the response
   * began, client gone) is not read further, so its connection is closed instead; one refused with 413
   * is drained by the server (tenant-server.ts refuse()). Idempotent.
   */
  close(): void {
    // The response ends with the connection when the client left: the worker's read says so.
    if (this.state === "open" && this.req.socket?.destroyed) this.fail(CLIENT_GONE);
    if (this.state === "failed") {
      if (!this.req.complete && !this.refusedAndDraining) this.req.destroy();
      return;
    }
    const reading = this.state === "open";
    this.state = "closed";
    this.chunks = [];
    this.queued = 0;
    if (!reading) return;
    this.poke();
    this.req.resume();
  }
}
