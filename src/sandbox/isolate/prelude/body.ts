import { TextDecoder, TextEncoder, toBytes } from "./encoding.js";
import { ReadableStream } from "./streams.js";
import { URLSearchParams } from "./url.js";

/** Blob: an immutable byte sequence with a type (File and FormData are not provided). */
export class Blob {
  readonly #bytes: Uint8Array;
  readonly type: string;
  constructor(parts: unknown[] = [], options: { type?: string } = {}) {
    const chunks = parts.map((p) =>
      p instanceof Blob ? p.#bytes : typeof p === "string" ? new TextEncoder().encode(p) : toBytes(p),
    );
    this.#bytes = concat(chunks);
    this.type = String(options.type ?? "").toLowerCase();
  }
  get size(): number { return this.#bytes.length; }
  slice(start?: number, end?: number, type?: string): Blob {
    return new Blob([this.#bytes.slice(start, end)], { type: type ?? "" });
  }
  async arrayBuffer(): Promise<ArrayBuffer> { return copyBuffer(this.#bytes); }
  async bytes(): Promise<Uint8Array> { return this.#bytes.slice(); }
  async text(): Promise<string> { return new TextDecoder().decode(this.#bytes); }
  stream(): ReadableStream<Uint8Array> { return bytesStream(this.#bytes); }
  /** @internal The bytes, not copied: a Blob is immutable and a body never writes to its bytes. */
  _bytes(): Uint8Array { return this.#bytes; }
}

export type BodyInit = string | ArrayBuffer | ArrayBufferView | Blob | URLSearchParams | ReadableStream | null | undefined;

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

export function copyBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (bytes.length) c.enqueue(bytes.slice());
      c.close();
    },
  });
}

/** A body's source: bytes we hold, or a stream we read on demand. */
export function extractBody(init: BodyInit): { bytes: Uint8Array | null; stream: ReadableStream | null; type: string | null } {
  if (init == null) return { bytes: null, stream: null, type: null };
  if (typeof init === "string") return { bytes: new TextEncoder().encode(init), stream: null, type: "text/plain;charset=UTF-8" };
  if (init instanceof URLSearchParams) {
    return { bytes: new TextEncoder().encode(init.toString()), stream: null, type: "application/x-www-form-urlencoded;charset=UTF-8" };
  }
  if (init instanceof Blob) return { bytes: init._bytes(), stream: null, type: init.type || null };
  if (init instanceof ReadableStream) return { bytes: null, stream: init, type: null };
  if (init instanceof ArrayBuffer || ArrayBuffer.isView(init)) return { bytes: toBytes(init).slice(), stream: null, type: null };
  return { bytes: new TextEncoder().encode(String(init)), stream: null, type: "text/plain;charset=UTF-8" };
}

/** The Body mixin shared by Request and Response. */
export class Body {
  #bytes: Uint8Array | null;
  #stream: ReadableStream | null;
  #used = false;

  constructor(source: { bytes: Uint8Array | null; stream: ReadableStream | null }) {
    this.#bytes = source.bytes;
    this.#stream = source.stream;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (!this.#stream && this.#bytes) {
      this.#stream = bytesStream(this.#bytes);
      this.#bytes = null;
    }
    return this.#stream as ReadableStream<Uint8Array> | null;
  }
  get bodyUsed(): boolean { return this.#used || (this.#stream?.locked ?? false); }

  /** @internal The whole body, read once. */
  async _consume(): Promise<Uint8Array> {
    if (this.bodyUsed) throw new TypeError("Body has already been used");
    this.#used = true;
    if (this.#bytes) return this.#bytes;
    if (!this.#stream) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    const reader = this.#stream.getReader();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      const v = r.value;
      chunks.push(typeof v === "string" ? new TextEncoder().encode(v) : toBytes(v));
    }
    reader.releaseLock();
    return concat(chunks);
  }

  /**
   * @internal The body as the engine sends it: the bytes when it holds them (sent whole), else its
   * stream (sent chunk by chunk as the worker produces them), else null. Marks the body used.
   */
  _take(): Uint8Array | ReadableStream | null {
    if (this.bodyUsed) throw new TypeError("Body has already been used");
    this.#used = true;
    return this.#bytes ?? this.#stream;
  }

  /** @internal Replaces the body source (used by clone() on a freshly built object). */
  _setSource(source: { bytes: Uint8Array | null; stream: ReadableStream | null }): void {
    this.#bytes = source.bytes;
    this.#stream = source.stream;
  }

  /** @internal A second, independent copy of this body (for clone()). */
  _cloneSource(): { bytes: Uint8Array | null; stream: ReadableStream | null } {
    if (this.bodyUsed) throw new TypeError("cannot clone a used body");
    if (this.#bytes) return { bytes: this.#bytes, stream: null };
    if (!this.#stream) return { bytes: null, stream: null };
    const [a, b] = this.#stream.tee();
    this.#stream = a;
    return { bytes: null, stream: b };
  }

  async arrayBuffer(): Promise<ArrayBuffer> { return copyBuffer(await this._consume()); }
  async bytes(): Promise<Uint8Array> { return (await this._consume()).slice(); }
  async text(): Promise<string> { return new TextDecoder().decode(await this._consume()); }
  async json(): Promise<unknown> { return JSON.parse(await this.text()); }
  async blob(): Promise<Blob> { return new Blob([await this._consume()]); }
  async formData(): Promise<never> { throw new TypeError("formData() is not supported by this runtime; parse the body with text()"); }
}
