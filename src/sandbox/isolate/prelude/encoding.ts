import { host } from "./host.js";

/**
 * TextEncoder and TextDecoder. UTF-8, the encoding of every body, is coded here (a call out of the
 * isolate per body costs more than decoding it); other encodings are decoded by the engine's
 * TextDecoder. base64 atob/btoa in plain JS (a bare V8 context has none).
 */
export class TextEncoder {
  get encoding(): string { return "utf-8"; }

  encode(input = ""): Uint8Array {
    const s = String(input);
    const out = new Uint8Array(s.length * 3);
    return out.slice(0, this.encodeInto(s, out).written);
  }

  /** Writes whole characters only: one that does not fit is neither written nor counted as read. */
  encodeInto(input: string, dest: Uint8Array): { read: number; written: number } {
    const s = String(input);
    const room = dest.length;
    let n = 0;
    let i = 0;
    while (i < s.length) {
      let c = s.codePointAt(i)!;
      const units = c > 0xffff ? 2 : 1;
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate
      if (c < 0x80) {
        if (n + 1 > room) break;
        dest[n++] = c;
      } else if (c < 0x800) {
        if (n + 2 > room) break;
        dest[n++] = 0xc0 | (c >> 6); dest[n++] = 0x80 | (c & 63);
      } else if (c < 0x10000) {
        if (n + 3 > room) break;
        dest[n++] = 0xe0 | (c >> 12); dest[n++] = 0x80 | ((c >> 6) & 63); dest[n++] = 0x80 | (c & 63);
      } else {
        if (n + 4 > room) break;
        dest[n++] = 0xf0 | (c >> 18); dest[n++] = 0x80 | ((c >> 12) & 63);
        dest[n++] = 0x80 | ((c >> 6) & 63); dest[n++] = 0x80 | (c & 63);
      }
      i += units;
    }
    return { read: i, written: n };
  }
}

declare global {
  // ES2024, in the isolate's V8 though not in the project's TypeScript lib.
  interface String { toWellFormed(): string }
}

export function toBytes(input: unknown): Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError("expected an ArrayBuffer or ArrayBufferView");
}

/** Code units turned into a string at a time (well under the engine's limit on call arguments). */
const DECODE_RUN = 8192;
const UTF8_LABEL = /^(utf-?8|unicode-1-1-utf-8|unicode11utf8|unicode20utf8|x-unicode20utf8)$/i;

/** The engine's streaming decoders this isolate holds, released once their TextDecoder is collected. */
const hostDecoders = new FinalizationRegistry<number>((id) => host.text("release", id));
let nextDecoder = 1;

export class TextDecoder {
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  readonly #encoding: string;
  /** The WHATWG UTF-8 decoder's state, kept between streamed calls. */
  #needed = 0;
  #seen = 0;
  #cp = 0;
  #lower = 0x80;
  #upper = 0xbf;
  #bomSeen = false;
  /** Other encodings: this decoder's id in the engine. */
  #id = 0;

  constructor(label = "utf-8", options: { fatal?: boolean; ignoreBOM?: boolean } = {}) {
    const l = String(label).trim();
    const encoding = UTF8_LABEL.test(l) ? "utf-8" : (host.text("encoding", l) as string | null);
    if (encoding === null) throw new RangeError(`TextDecoder: the encoding "${label}" is not supported`);
    this.#encoding = encoding;
    this.fatal = Boolean(options.fatal);
    this.ignoreBOM = Boolean(options.ignoreBOM);
  }
  get encoding(): string { return this.#encoding; }

  decode(input?: ArrayBuffer | ArrayBufferView, options: { stream?: boolean } = {}): string {
    const bytes = input === undefined ? new Uint8Array(0) : toBytes(input);
    const stream = Boolean(options.stream);
    if (this.#encoding !== "utf-8") return this.#decodeInEngine(bytes, stream);
    let out = this.#utf8(bytes, stream);
    if (!this.#bomSeen && out.length) {
      if (!this.ignoreBOM && out.charCodeAt(0) === 0xfeff) out = out.slice(1);
      this.#bomSeen = true;
    }
    if (!stream) this.#bomSeen = false;
    return out;
  }

  #decodeInEngine(bytes: Uint8Array, stream: boolean): string {
    if (!this.#id) {
      this.#id = nextDecoder++;
      hostDecoders.register(this, this.#id);
    }
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const r = host.text("decode", this.#id, this.#encoding, this.fatal, this.ignoreBOM, copy, stream) as string | { error: string };
    if (typeof r === "string") return r;
    throw new TypeError(r.error);
  }

  #utf8(bytes: Uint8Array, stream: boolean): string {
    // Code units become a string in runs: built one character at a time, the text of a body of a few
    // hundred KiB costs more CPU and heap than a request's budget.
    let out = "";
    const units: number[] = [];
    const flush = (): void => {
      out += String.fromCharCode.apply(null, units);
      units.length = 0;
    };
    const bad = (): void => {
      if (this.fatal) {
        this.#needed = this.#seen = this.#cp = 0;
        throw new TypeError("TextDecoder: the data is not valid UTF-8");
      }
      units.push(0xfffd);
    };
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (this.#needed === 0) {
        if (b < 0x80) {
          // A run of ASCII: its bytes are its code units.
          let end = i + 1;
          while (end < bytes.length && end - i < DECODE_RUN && bytes[end]! < 0x80) end++;
          if (units.length) flush();
          out += String.fromCharCode.apply(null, bytes.subarray(i, end) as unknown as number[]);
          i = end - 1;
        } else if (b >= 0xc2 && b <= 0xdf) { this.#needed = 1; this.#cp = b & 0x1f; }
        else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) this.#lower = 0xa0;
          if (b === 0xed) this.#upper = 0x9f;
          this.#needed = 2; this.#cp = b & 0xf;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) this.#lower = 0x90;
          if (b === 0xf4) this.#upper = 0x8f;
          this.#needed = 3; this.#cp = b & 0x7;
        } else bad();
        continue;
      }
      if (b < this.#lower || b > this.#upper) {
        // The sequence so far is one maximal subpart: one U+FFFD for it, and this byte starts afresh.
        this.#needed = this.#seen = this.#cp = 0;
        this.#lower = 0x80; this.#upper = 0xbf;
        bad();
        i--;
        continue;
      }
      this.#lower = 0x80; this.#upper = 0xbf;
      this.#cp = (this.#cp << 6) | (b & 0x3f);
      if (++this.#seen < this.#needed) continue;
      const c = this.#cp;
      this.#needed = this.#seen = this.#cp = 0;
      if (c < 0x10000) units.push(c);
      else units.push(0xd800 + ((c - 0x10000) >> 10), 0xdc00 + ((c - 0x10000) & 0x3ff));
      if (units.length >= DECODE_RUN) flush();
    }
    if (!stream && this.#needed) {
      this.#needed = this.#seen = this.#cp = 0;
      this.#lower = 0x80; this.#upper = 0xbf;
      bad();
    }
    flush();
    return out;
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function btoa(data: unknown): string {
  const s = String(data);
  let out = "";
  for (let i = 0; i < s.length; i += 3) {
    const a = s.charCodeAt(i), b = s.charCodeAt(i + 1), c = s.charCodeAt(i + 2);
    if (a > 255 || b > 255 || c > 255) throw new DOMException("btoa: string contains characters outside Latin1", "InvalidCharacterError");
    const n = (a << 16) | ((b || 0) << 8) | (c || 0);
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + (i + 1 < s.length ? B64[(n >> 6) & 63]! : "=") + (i + 2 < s.length ? B64[n & 63]! : "=");
  }
  return out;
}

export function atob(data: unknown): string {
  let s = String(data).replace(/[\t\n\f\r ]/g, "");
  if (s.length % 4 === 0) s = s.replace(/==?$/, "");
  if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s)) throw new DOMException("atob: invalid base64", "InvalidCharacterError");
  let out = "";
  let buf = 0, bits = 0;
  for (const ch of s) {
    buf = (buf << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) { bits -= 8; out += String.fromCharCode((buf >> bits) & 255); }
  }
  return out;
}

/** The DOMException the Web APIs throw (a bare V8 context has no DOMException either). */
export class DOMException extends Error {
  constructor(message = "", name = "Error") {
    super(message);
    this.name = name;
  }
  /** The legacy numeric code of the standard's names (0 for others). */
  get code(): number { return LEGACY_CODES.indexOf(this.name) + 1; }
}

const LEGACY_CODES = [
  "IndexSizeError", "DOMStringSizeError", "HierarchyRequestError", "WrongDocumentError", "InvalidCharacterError",
  "NoDataAllowedError", "NoModificationAllowedError", "NotFoundError", "NotSupportedError", "InUseAttributeError",
  "InvalidStateError", "SyntaxError", "InvalidModificationError", "NamespaceError", "InvalidAccessError",
  "ValidationError", "TypeMismatchError", "SecurityError", "NetworkError", "AbortError", "URLMismatchError",
  "QuotaExceededError", "TimeoutError", "InvalidNodeTypeError", "DataCloneError",
];
