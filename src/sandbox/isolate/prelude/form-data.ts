import { Blob, concat, File } from "./blob.js";
import { TextDecoder, TextEncoder } from "./encoding.js";
import { host } from "./host.js";
import { URLSearchParams } from "./url.js";

type Entry = [string, string | File];

/** FormData: an ordered list of named strings and files. */
export class FormData {
  #list: Entry[] = [];
  constructor(form?: unknown) {
    if (form !== undefined) throw new TypeError("FormData: there is no HTML form to read here");
  }
  get [Symbol.toStringTag](): string { return "FormData"; }
  append(name: string, value: unknown, filename?: string): void { this.#list.push(entry(name, value, filename)); }
  set(name: string, value: unknown, filename?: string): void {
    const e = entry(name, value, filename);
    const i = this.#list.findIndex(([k]) => k === e[0]);
    if (i < 0) this.#list.push(e);
    else this.#list = [...this.#list.slice(0, i), e, ...this.#list.slice(i + 1).filter(([k]) => k !== e[0])];
  }
  get(name: string): string | File | null { return this.#list.find(([k]) => k === String(name))?.[1] ?? null; }
  getAll(name: string): Array<string | File> { return this.#list.filter(([k]) => k === String(name)).map(([, v]) => v); }
  has(name: string): boolean { return this.#list.some(([k]) => k === String(name)); }
  delete(name: string): void { this.#list = this.#list.filter(([k]) => k !== String(name)); }
  forEach(cb: (value: string | File, key: string, parent: FormData) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#list) cb.call(thisArg, v, k, this);
  }
  *entries(): IterableIterator<Entry> { for (const [k, v] of this.#list) yield [k, v]; }
  *keys(): IterableIterator<string> { for (const [k] of this.#list) yield k; }
  *values(): IterableIterator<string | File> { for (const [, v] of this.#list) yield v; }
  [Symbol.iterator](): IterableIterator<Entry> { return this.entries(); }
}

function entry(name: string, value: unknown, filename?: string): Entry {
  if (!(value instanceof Blob)) return [String(name).toWellFormed(), String(value).toWellFormed()];
  // A Blob given no filename is named after its field, as workerd does (the standard says "blob").
  const file = value instanceof File && filename === undefined
    ? value
    : new File([value], filename === undefined ? (value instanceof File ? value.name : String(name)) : String(filename), {
        type: value.type,
        lastModified: value instanceof File ? value.lastModified : undefined,
      });
  return [String(name).toWellFormed(), file];
}

/** A FormData body as multipart/form-data: its bytes and content type. */
export function serializeForm(form: FormData): { bytes: Uint8Array; type: string } {
  const enc = new TextEncoder();
  const boundary = `----StrataFormBoundary${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const quote = (s: string): string => s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
  const parts: Uint8Array[] = [];
  for (const [name, v] of form) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"`;
    if (typeof v === "string") {
      parts.push(enc.encode(`${head}\r\n\r\n${v}\r\n`));
      continue;
    }
    head += `; filename="${quote(v.name)}"\r\nContent-Type: ${v.type || "application/octet-stream"}\r\n\r\n`;
    parts.push(enc.encode(head), v._bytes(), enc.encode("\r\n"));
  }
  parts.push(enc.encode(`--${boundary}--\r\n`));
  return { bytes: concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

/** A body as FormData, by its content type: urlencoded is parsed here, multipart by the engine. */
export async function parseForm(contentType: string | null, bytes: Uint8Array): Promise<FormData> {
  const essence = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const form = new FormData();
  if (essence === "application/x-www-form-urlencoded") {
    for (const [k, v] of new URLSearchParams(new TextDecoder().decode(bytes))) form.append(k, v);
    return form;
  }
  if (essence !== "multipart/form-data") {
    throw new TypeError(`formData(): the body's content type is ${contentType === null ? "missing" : `"${contentType}"`}, not multipart/form-data or application/x-www-form-urlencoded`);
  }
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  for (const [name, v] of await host.formData(contentType!, copy)) {
    form.append(name, typeof v === "string" ? v : new File([v.bytes], v.name, { type: v.type }));
  }
  return form;
}
