import { Blob, bytesStream, concat, copyBuffer } from "./blob.js";
import { TextDecoder, TextEncoder, toBytes } from "./encoding.js";
import { FormData, parseForm, serializeForm } from "./form-data.js";
import type { Headers } from "./headers.js";
import { ReadableStream } from "./streams.js";
import { URLSearchParams } from "./url.js";

export type BodyInit = string | ArrayBuffer | ArrayBufferView | Blob | URLSearchParams | FormData | ReadableStream | null | undefined;

const TEXT = new TextDecoder("utf-8", { ignoreBOM: true });

/** A body's source: bytes we hold, or a stream we read on demand. */
export function extractBody(init: BodyInit): { bytes: Uint8Array | null; stream: ReadableStream | null; type: string | null } {
  if (init == null) return { bytes: null, stream: null, type: null };
  if (typeof init === "string") return { bytes: new TextEncoder().encode(init), stream: null, type: "text/plain;charset=UTF-8" };
  if (init instanceof URLSearchParams) {
    return { bytes: new TextEncoder().encode(init.toString()), stream: null, type: "application/x-www-form-urlencoded;charset=UTF-8" };
  }
  if (init instanceof FormData) return { ...serializeForm(init), stream: null };
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
  // A leading BOM stays, as in workerd (the standard strips it).
  async text(): Promise<string> { return TEXT.decode(await this._consume()); }
  async json(): Promise<unknown> { return JSON.parse(await this.text()); }
  async blob(): Promise<Blob> { return new Blob([await this._consume()], { type: this.#contentType() ?? "" }); }
  async formData(): Promise<FormData> {
    const type = this.#contentType();
    return await parseForm(type, await this._consume());
  }
  /** Request and Response, the classes that mix Body in, both have headers. */
  #contentType(): string | null { return (this as unknown as { headers: Headers }).headers.get("content-type"); }
}
