import type { Readable } from "node:stream";

/**
 * Bodies of an isolate's fetch() responses, kept in the engine and read chunk by chunk as the worker
 * pulls (so a large or endless response costs the engine one chunk, and reaches the worker as it comes).
 * A worker that never reads a body leaves it here: past MAX_OPEN the oldest is discarded, and the
 * outbound fetch's own idle timeout ends the connection of any body left unread.
 */
const MAX_OPEN = 32;

interface Open {
  readonly stream: Readable;
  readonly chunks: AsyncIterator<Buffer>;
}

export class FetchBodies {
  private readonly open = new Map<number, Open>();
  /** Why a discarded body's reads fail (kept for the few bodies discarded to make room). */
  private readonly gone = new Map<number, string>();
  private nextId = 1;

  add(stream: Readable): number {
    if (this.open.size >= MAX_OPEN) {
      const [oldest] = this.open.keys();
      this.cancel(oldest!, `the body was discarded unread: more than ${MAX_OPEN} fetch() response bodies were open at once`);
    }
    const id = this.nextId++;
    stream.on("error", () => undefined); // surfaced by the next read(); until then the stream just ends
    this.open.set(id, { stream, chunks: stream[Symbol.asyncIterator]() as AsyncIterator<Buffer> });
    return id;
  }

  /** The next chunk of body `id` (a copy the caller may transfer), null at its end; throws its failure. */
  async read(id: number): Promise<ArrayBuffer | null> {
    const body = this.open.get(id);
    if (!body) throw new TypeError(this.gone.get(id) ?? "this fetch() response body was already read or cancelled");
    let next: IteratorResult<Buffer>;
    try {
      next = await body.chunks.next();
    } catch (err) {
      this.open.delete(id);
      throw err;
    }
    if (next.done) {
      this.open.delete(id);
      return null;
    }
    const c = next.value;
    return c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength) as ArrayBuffer;
  }

  cancel(id: number, why?: string): void {
    const body = this.open.get(id);
    if (!body) return;
    this.open.delete(id);
    body.stream.destroy();
    if (why) {
      this.gone.set(id, why);
      if (this.gone.size > MAX_OPEN) this.gone.delete(this.gone.keys().next().value!);
    }
  }
}
