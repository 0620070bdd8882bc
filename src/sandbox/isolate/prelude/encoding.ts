/** UTF-8 TextEncoder/TextDecoder and base64 atob/btoa, in plain JS (a bare V8 context has none). */
export class TextEncoder {
  get encoding(): string { return "utf-8"; }

  encode(input = ""): Uint8Array {
    const s = String(input);
    const out = new Uint8Array(s.length * 3);
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else c = 0xfffd;
      } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      if (c < 0x80) out[n++] = c;
      else if (c < 0x800) { out[n++] = 0xc0 | (c >> 6); out[n++] = 0x80 | (c & 63); }
      else if (c < 0x10000) { out[n++] = 0xe0 | (c >> 12); out[n++] = 0x80 | ((c >> 6) & 63); out[n++] = 0x80 | (c & 63); }
      else {
        out[n++] = 0xf0 | (c >> 18); out[n++] = 0x80 | ((c >> 12) & 63);
        out[n++] = 0x80 | ((c >> 6) & 63); out[n++] = 0x80 | (c & 63);
      }
    }
    return out.slice(0, n);
  }

  encodeInto(input: string, dest: Uint8Array): { read: number; written: number } {
    const bytes = this.encode(input);
    const written = Math.min(bytes.length, dest.length);
    dest.set(bytes.subarray(0, written));
    return { read: written === bytes.length ? input.length : new TextDecoder().decode(bytes.subarray(0, written)).length, written };
  }
}

export function toBytes(input: unknown): Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError("expected an ArrayBuffer or ArrayBufferView");
}

/** Code units turned into a string at a time (well under the engine's limit on call arguments). */
const DECODE_RUN = 8192;

export class TextDecoder {
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  private pending: number[] = [];

  constructor(label = "utf-8", options: { fatal?: boolean; ignoreBOM?: boolean } = {}) {
    if (!/^(utf-?8|unicode-1-1-utf-8)$/i.test(String(label).trim())) {
      throw new RangeError(`TextDecoder: encoding "${label}" is not supported (only utf-8)`);
    }
    this.fatal = Boolean(options.fatal);
    this.ignoreBOM = Boolean(options.ignoreBOM);
  }
  get encoding(): string { return "utf-8"; }

  decode(input?: ArrayBuffer | ArrayBufferView, options: { stream?: boolean } = {}): string {
    const fresh = input === undefined ? new Uint8Array(0) : toBytes(input);
    const bytes = this.pending.length ? Uint8Array.from([...this.pending, ...fresh]) : fresh;
    this.pending = [];
    // Code units become a string in runs: built one character at a time, the text of a body of a few
    // hundred KiB costs more CPU and heap than a request's budget.
    let out = "";
    const units: number[] = [];
    const flush = (): void => {
      out += String.fromCharCode.apply(null, units);
      units.length = 0;
    };
    let i = 0;
    const bad = (): void => {
      if (this.fatal) throw new TypeError("TextDecoder: invalid UTF-8 data");
      units.push(0xfffd);
    };
    while (i < bytes.length) {
      const b = bytes[i]!;
      if (b < 0x80) {
        // A run of ASCII: its bytes are its code units.
        let end = i + 1;
        while (end < bytes.length && end - i < DECODE_RUN && bytes[end]! < 0x80) end++;
        if (units.length) flush();
        out += String.fromCharCode.apply(null, bytes.subarray(i, end) as unknown as number[]);
        i = end;
        continue;
      }
      const need = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
      if (need < 0) { bad(); i++; continue; }
      if (options.stream && need > 0 && i + need >= bytes.length) {
        this.pending = Array.from(bytes.subarray(i));
        break;
      }
      let c = need === 0 ? b : b & (0x3f >> need);
      let ok = true;
      for (let k = 1; k <= need; k++) {
        const nb = bytes[i + k];
        if (nb === undefined || (nb & 0xc0) !== 0x80) { ok = false; break; }
        c = (c << 6) | (nb & 63);
      }
      if (!ok || (need === 2 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) || (need === 3 && (c < 0x10000 || c > 0x10ffff))) {
        bad(); i++; continue;
      }
      i += need + 1;
      if (c < 0x10000) units.push(c);
      else units.push(0xd800 + ((c - 0x10000) >> 10), 0xdc00 + ((c - 0x10000) & 0x3ff));
      if (units.length >= DECODE_RUN) flush();
    }
    flush();
    if (!this.ignoreBOM && out.charCodeAt(0) === 0xfeff) out = out.slice(1);
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
}
