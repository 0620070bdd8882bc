import { TextDecoder, TextEncoder, toBytes } from "./encoding.js";
import { ReadableStream } from "./streams.js";

/** Blob and File: immutable byte sequences with a type (and a File, a name). */
export class Blob {
  readonly #bytes: Uint8Array;
  readonly type: string;
  constructor(parts: unknown[] = [], options: { type?: string } = {}) {
    const chunks = parts.map((p) =>
      p instanceof Blob ? p.#bytes : p instanceof ArrayBuffer || ArrayBuffer.isView(p) ? toBytes(p) : new TextEncoder().encode(String(p)),
    );
    this.#bytes = concat(chunks);
    const type = String(options.type ?? "");
    this.type = /^[\x20-\x7e]*$/.test(type) ? type.toLowerCase() : "";
  }
  get size(): number { return this.#bytes.length; }
  get [Symbol.toStringTag](): string { return "Blob"; }
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

export class File extends Blob {
  readonly name: string;
  readonly lastModified: number;
  constructor(parts: unknown[], name: string, options: { type?: string; lastModified?: number } = {}) {
    if (arguments.length < 2) throw new TypeError("File: a name is required");
    super(parts, options);
    this.name = String(name);
    this.lastModified = options.lastModified === undefined ? Date.now() : Number(options.lastModified);
  }
  override get [Symbol.toStringTag](): string { return "File"; }
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

export function copyBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

export function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (bytes.length) c.enqueue(bytes.slice());
      c.close();
    },
  });
}
