import type { Transform } from "node:stream";
import { createDeflate, createDeflateRaw, createGunzip, createGzip, createInflate, createInflateRaw } from "node:zlib";
import type { HostFormValue } from "../prelude/host.js";

/**
 * The spec-exact codecs of Node that the isolate prelude calls instead of carrying copies of its own:
 * TextDecoder for encodings other than UTF-8, undici's multipart/form-data parser, and zlib for
 * CompressionStream/DecompressionStream. One per isolate.
 */
const MAX_STREAMING_DECODERS = 1000;
const MAX_ZLIB_STREAMS = 64;
/** Output one zlib step may produce: past it the stream fails (a small input can inflate without bound). */
const MAX_ZLIB_STEP_BYTES = 64 * 1024 * 1024;

const ZLIB = {
  gzip: [createGzip, createGunzip],
  deflate: [createDeflate, createInflate],
  "deflate-raw": [createDeflateRaw, createInflateRaw],
} as const;

/**
 * windows-1252's characters for bytes 0x80-0x9f: Node decodes the label (and latin1, ascii) as
 * ISO-8859-1, which gives C1 controls there.
 */
const WINDOWS_1252 = [..."\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178"];

interface ZlibStream { z: Transform; out: Buffer[]; size: number; error: Error | null }

export class CodecBridge {
  readonly #decoders = new Map<number, TextDecoder>();
  readonly #zlib = new Map<number, ZlibStream>();
  #nextZlib = 1;

  /** Sync: ("encoding", label) | ("decode", id, encoding, fatal, ignoreBOM, bytes, stream) | ("release", id). */
  text(op: unknown, ...a: unknown[]): unknown {
    if (op === "encoding") {
      try {
        return new TextDecoder(String(a[0])).encoding;
      } catch {
        return null; // not a label the Encoding standard knows: the isolate throws its RangeError
      }
    }
    const id = Number(a[0]);
    if (op === "release") {
      this.#decoders.delete(id);
      return null;
    }
    const [, encoding, fatal, ignoreBOM, bytes, stream] = a;
    let d = this.#decoders.get(id);
    if (!d) {
      d = new TextDecoder(String(encoding), { fatal: Boolean(fatal), ignoreBOM: Boolean(ignoreBOM) });
      if (stream) {
        if (this.#decoders.size >= MAX_STREAMING_DECODERS) return { error: `too many streaming TextDecoders (limit ${MAX_STREAMING_DECODERS})` };
        this.#decoders.set(id, d);
      }
    }
    try {
      const text = d.decode(bytes as ArrayBuffer, { stream: Boolean(stream) });
      return d.encoding === "windows-1252" ? text.replace(/[\x80-\x9f]/g, (c) => WINDOWS_1252[c.charCodeAt(0) - 0x80]!) : text;
    } catch (err) {
      this.#decoders.delete(id);
      return { error: err instanceof Error ? err.message : String(err) };
    } finally {
      if (!stream) this.#decoders.delete(id);
    }
  }

  async formData(contentType: unknown, body: unknown): Promise<Array<[string, HostFormValue]>> {
    const form = await new Response(body as ArrayBuffer, { headers: { "content-type": String(contentType) } }).formData();
    const out: Array<[string, HostFormValue]> = [];
    for (const [name, v] of form) {
      out.push([name, typeof v === "string" ? v : { name: v.name, type: v.type, bytes: await v.arrayBuffer() }]);
    }
    return out;
  }

  async zlib(op: unknown, a: unknown, b: unknown): Promise<unknown> {
    if (op === "open") {
      const pair = ZLIB[String(a) as keyof typeof ZLIB];
      if (!pair) throw new TypeError(`unsupported compression format ${String(a)}`);
      if (this.#zlib.size >= MAX_ZLIB_STREAMS) throw new TypeError(`too many open compression streams (limit ${MAX_ZLIB_STREAMS})`);
      const s: ZlibStream = { z: (b ? pair[0] : pair[1])(), out: [], size: 0, error: null };
      s.z.on("data", (c: Buffer) => {
        s.out.push(c);
        s.size += c.length;
        if (s.size > MAX_ZLIB_STEP_BYTES) s.z.destroy(new RangeError(`a compression stream produced more than ${MAX_ZLIB_STEP_BYTES} bytes at once`));
      });
      s.z.on("error", (err) => { s.error = err; });
      const id = this.#nextZlib++;
      this.#zlib.set(id, s);
      return id;
    }
    const id = Number(a);
    const s = this.#zlib.get(id);
    if (!s) throw new TypeError("the compression stream is closed");
    try {
      if (op === "write") {
        // A corrupt input fails with an "error" event, and zlib never calls the write's callback then.
        await new Promise<void>((resolve, reject) => {
          s.z.once("error", reject);
          s.z.write(new Uint8Array(b as ArrayBuffer), (err) => {
            s.z.off("error", reject);
            if (err) reject(err);
            else resolve();
          });
        });
      } else {
        this.#zlib.delete(id);
        await new Promise<void>((resolve, reject) => {
          s.z.once("end", resolve);
          s.z.once("error", reject);
          s.z.end();
        });
      }
      if (s.error) throw s.error;
    } catch (err) {
      this.#zlib.delete(id);
      s.z.destroy();
      throw err;
    }
    const out = s.out.length ? Buffer.concat(s.out) : null;
    s.out = [];
    s.size = 0;
    return out && out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
  }
}
