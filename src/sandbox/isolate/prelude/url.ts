import { TextDecoder, TextEncoder } from "./encoding.js";
import { host, type UrlParts } from "./host.js";

/** WHATWG URL: parsing and setters are done by the engine's URL (exact spec behaviour, no JS copy). */
export class URL {
  #parts: UrlParts;
  #params: URLSearchParams | null = null;

  constructor(input: unknown, base?: unknown) {
    this.#parts = parse(String(input), base === undefined ? undefined : String(base));
  }

  static canParse(input: unknown, base?: unknown): boolean {
    try {
      parse(String(input), base === undefined ? undefined : String(base));
      return true;
    } catch {
      return false; // canParse answers exactly this question
    }
  }

  #set(part: string, value: unknown): void {
    this.#parts = host.url("set", this.#parts.href, part, String(value));
    this.#params?._reset(this.#parts.search);
  }

  get href(): string { return this.#parts.href; }
  set href(v: string) { this.#parts = parse(String(v)); this.#params?._reset(this.#parts.search); }
  get origin(): string { return this.#parts.origin; }
  get protocol(): string { return this.#parts.protocol; }
  set protocol(v: string) { this.#set("protocol", v); }
  get username(): string { return this.#parts.username; }
  set username(v: string) { this.#set("username", v); }
  get password(): string { return this.#parts.password; }
  set password(v: string) { this.#set("password", v); }
  get host(): string { return this.#parts.host; }
  set host(v: string) { this.#set("host", v); }
  get hostname(): string { return this.#parts.hostname; }
  set hostname(v: string) { this.#set("hostname", v); }
  get port(): string { return this.#parts.port; }
  set port(v: string) { this.#set("port", v); }
  get pathname(): string { return this.#parts.pathname; }
  set pathname(v: string) { this.#set("pathname", v); }
  get search(): string { return this.#parts.search; }
  set search(v: string) { this.#set("search", v); }
  get hash(): string { return this.#parts.hash; }
  set hash(v: string) { this.#set("hash", v); }
  get searchParams(): URLSearchParams {
    if (!this.#params) {
      this.#params = new URLSearchParams(this.#parts.search);
      this.#params._onChange = (q) => this.#set("search", q);
    }
    return this.#params;
  }
  toString(): string { return this.href; }
  toJSON(): string { return this.href; }
}

/** Recent parses: each one is a call out of the isolate, and a request's URL is parsed several times. */
const PARSED = new Map<string, UrlParts>();
const PARSED_MAX = 256;

/** Seeds the cache with a URL the engine parsed already (a request's URL), so parsing it costs no call out. */
export function rememberParsed(parts: UrlParts): void {
  if (PARSED.size >= PARSED_MAX) PARSED.delete(PARSED.keys().next().value!);
  PARSED.set(parts.href, parts);
}

function parse(input: string, base?: string): UrlParts {
  const key = base === undefined ? input : `${base}\n${input}`;
  const hit = PARSED.get(key);
  if (hit) return hit;
  let parts: UrlParts;
  try {
    parts = host.url("parse", input, base);
  } catch {
    throw new TypeError(`Invalid URL: ${input}`);
  }
  if (PARSED.size >= PARSED_MAX) PARSED.delete(PARSED.keys().next().value!);
  PARSED.set(key, parts);
  return parts;
}

/** The urlencoded parser's decoding: bytes of valid %-escapes, the rest as written, then UTF-8 with U+FFFD. */
function decode(s: string): string {
  const plus = s.replace(/\+/g, " ");
  if (!plus.includes("%")) return plus.toWellFormed();
  const bytes = new TextEncoder().encode(plus);
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const hex = bytes[i] === 0x25 && i + 2 < bytes.length ? String.fromCharCode(bytes[i + 1]!, bytes[i + 2]!) : "";
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else out[n++] = bytes[i]!;
  }
  return new TextDecoder().decode(out.subarray(0, n));
}

function encode(s: string): string {
  return encodeURIComponent(s.toWellFormed()).replace(/%20/g, "+").replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

export class URLSearchParams {
  #list: Array<[string, string]> = [];
  /** @internal set by URL so edits write back to its search. */
  _onChange: ((query: string) => void) | null = null;

  constructor(init: unknown = "") {
    if (typeof init === "string") this._reset(init);
    else if (init instanceof URLSearchParams) this.#list = [...init.#list];
    else if (init && typeof init === "object") {
      const iter = (init as { [Symbol.iterator]?: unknown })[Symbol.iterator];
      if (typeof iter === "function") {
        for (const pair of init as Iterable<Iterable<unknown>>) {
          const p = [...pair];
          if (p.length !== 2) throw new TypeError("URLSearchParams: each pair must have 2 items");
          this.#list.push([String(p[0]).toWellFormed(), String(p[1]).toWellFormed()]);
        }
      } else for (const [k, v] of Object.entries(init)) this.#list.push([k.toWellFormed(), String(v).toWellFormed()]);
    }
  }

  /** @internal */
  _reset(query: string): void {
    const q = query.startsWith("?") ? query.slice(1) : query;
    this.#list = q
      ? q.split("&").filter(Boolean).map((part) => {
          const eq = part.indexOf("=");
          return eq < 0 ? [decode(part), ""] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))];
        })
      : [];
  }

  #changed(): void { this._onChange?.(this.toString()); }
  get size(): number { return this.#list.length; }
  append(name: string, value: string): void { this.#list.push([String(name), String(value)]); this.#changed(); }
  delete(name: string, value?: string): void {
    this.#list = this.#list.filter(([k, v]) => k !== name || (value !== undefined && v !== String(value)));
    this.#changed();
  }
  get(name: string): string | null { return this.#list.find(([k]) => k === name)?.[1] ?? null; }
  getAll(name: string): string[] { return this.#list.filter(([k]) => k === name).map(([, v]) => v); }
  has(name: string, value?: string): boolean {
    return this.#list.some(([k, v]) => k === name && (value === undefined || v === String(value)));
  }
  set(name: string, value: string): void {
    const i = this.#list.findIndex(([k]) => k === name);
    if (i < 0) this.#list.push([String(name), String(value)]);
    else {
      this.#list[i] = [String(name), String(value)];
      this.#list = this.#list.filter(([k], j) => j <= i || k !== name);
    }
    this.#changed();
  }
  sort(): void { this.#list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); this.#changed(); }
  forEach(cb: (value: string, key: string, parent: URLSearchParams) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#list) cb.call(thisArg, v, k, this);
  }
  *entries(): IterableIterator<[string, string]> { for (const [k, v] of this.#list) yield [k, v]; }
  *keys(): IterableIterator<string> { for (const [k] of this.#list) yield k; }
  *values(): IterableIterator<string> { for (const [, v] of this.#list) yield v; }
  [Symbol.iterator](): IterableIterator<[string, string]> { return this.entries(); }
  toString(): string { return this.#list.map(([k, v]) => `${encode(k)}=${encode(v)}`).join("&"); }
}
