import { TextDecoder, TextEncoder, toBytes } from "./encoding.js";
import { host } from "./host.js";
import { ReadableStream, TransformStream, WritableStream } from "./streams.js";

/** TextEncoderStream, TextDecoderStream, and CompressionStream/DecompressionStream (zlib in the engine). */
class CodecStream<I, O> {
  readonly readable: ReadableStream<O>;
  readonly writable: WritableStream<I>;
  constructor(t: TransformStream<I, O>) {
    this.readable = t.readable;
    this.writable = t.writable;
  }
}

export class TextEncoderStream extends CodecStream<string, Uint8Array> {
  constructor() {
    const enc = new TextEncoder();
    let high = ""; // a chunk's last high surrogate waits for the next chunk's low one
    super(new TransformStream<string, Uint8Array>({
      transform(chunk, c) {
        let s = high + String(chunk);
        high = "";
        const last = s.charCodeAt(s.length - 1);
        if (last >= 0xd800 && last <= 0xdbff) { high = s.slice(-1); s = s.slice(0, -1); }
        if (s) c.enqueue(enc.encode(s));
      },
      flush(c) { if (high) c.enqueue(enc.encode(high)); },
    }));
  }
  get encoding(): string { return "utf-8"; }
}

export class TextDecoderStream extends CodecStream<ArrayBuffer | ArrayBufferView, string> {
  readonly #dec: TextDecoder;
  constructor(label = "utf-8", options: { fatal?: boolean; ignoreBOM?: boolean } = {}) {
    const dec = new TextDecoder(label, options);
    super(new TransformStream<ArrayBuffer | ArrayBufferView, string>({
      transform(chunk, c) {
        const s = dec.decode(toBytes(chunk), { stream: true });
        if (s) c.enqueue(s);
      },
      flush(c) {
        const s = dec.decode();
        if (s) c.enqueue(s);
      },
    }));
    this.#dec = dec;
  }
  get encoding(): string { return this.#dec.encoding; }
  get fatal(): boolean { return this.#dec.fatal; }
  get ignoreBOM(): boolean { return this.#dec.ignoreBOM; }
}

const FORMATS = ["gzip", "deflate", "deflate-raw"];

function zlibStream(format: unknown, compress: boolean): TransformStream<ArrayBuffer | ArrayBufferView, Uint8Array> {
  const f = String(format);
  if (!FORMATS.includes(f)) throw new TypeError(`unsupported compression format "${f}" (gzip, deflate or deflate-raw)`);
  let id: Promise<number> | null = null;
  const emit = (out: unknown, c: { enqueue(b: Uint8Array): void }): void => {
    if (out) c.enqueue(new Uint8Array(out as ArrayBuffer));
  };
  // The engine's stream is opened at the first chunk, so a stream never written holds nothing there.
  const open = (): Promise<number> => (id ??= host.zlib("open", f, compress) as Promise<number>);
  return new TransformStream({
    async transform(chunk, c) {
      const b = toBytes(chunk);
      emit(await host.zlib("write", await open(), b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), c);
    },
    async flush(c) { emit(await host.zlib("end", await open()), c); },
  });
}

export class CompressionStream extends CodecStream<ArrayBuffer | ArrayBufferView, Uint8Array> {
  constructor(format: string) { super(zlibStream(format, true)); }
}

export class DecompressionStream extends CodecStream<ArrayBuffer | ArrayBufferView, Uint8Array> {
  constructor(format: string) { super(zlibStream(format, false)); }
}
