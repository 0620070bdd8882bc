import { TextDecoder, TextEncoder, toBytes } from "./encoding.js";
import { host } from "./host.js";
import { Response } from "./request-response.js";
import { ReadableStream } from "./streams.js";

/**
 * A Workers KV namespace binding (env.NAME for each wrangler kv_namespaces entry), its API as
 * Cloudflare documents it: get / getWithMetadata with the text, json, arrayBuffer and stream types,
 * put with expiration, expirationTtl and metadata, delete, and list with prefix, limit and cursor.
 * The namespace itself is kept by the engine (engine/kv-store.ts), per app.
 */
type KvType = "text" | "json" | "arrayBuffer" | "stream";
const TYPES: readonly string[] = ["text", "json", "arrayBuffer", "stream"];

function checkKey(key: unknown): string {
  const k = String(key);
  if (k === "") throw new TypeError("Key name cannot be empty.");
  if (k === "." || k === "..") throw new TypeError(`"${k}" is not allowed as a key name.`);
  return k;
}

function typeOf(arg: unknown): KvType {
  const t = arg === undefined || arg === null ? "text" : typeof arg === "string" ? arg : (arg as { type?: unknown }).type ?? "text";
  if (!TYPES.includes(String(t))) throw new TypeError(`Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".`);
  return t as KvType;
}

function decode(bytes: ArrayBuffer, type: KvType): unknown {
  switch (type) {
    case "text": return new TextDecoder().decode(bytes);
    case "json": return JSON.parse(new TextDecoder().decode(bytes));
    case "arrayBuffer": return bytes;
    case "stream": return new ReadableStream<Uint8Array>({
      start(c) {
        if (bytes.byteLength) c.enqueue(new Uint8Array(bytes));
        c.close();
      },
    });
  }
}

async function valueBytes(value: unknown): Promise<ArrayBuffer> {
  if (value instanceof ReadableStream) return await new Response(value).arrayBuffer();
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    const b = toBytes(value);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }
  const b = new TextEncoder().encode(String(value));
  return b.buffer as ArrayBuffer;
}

interface Entry { value: ArrayBuffer; metadata: string | null }
interface ListKey { name: string; expiration?: number; metadata?: string }

export class KVNamespace {
  readonly #ns: number;
  /** @internal made by install() for each binding; `ns` is the binding's index in the engine's list. */
  constructor(ns: number) {
    this.#ns = ns;
  }

  async get(key: unknown, options?: unknown): Promise<unknown> {
    return (await this.getWithMetadata(key, options)).value;
  }

  async getWithMetadata(key: unknown, options?: unknown): Promise<{ value: unknown; metadata: unknown; cacheStatus: null }> {
    const k = checkKey(key);
    const type = typeOf(options);
    const e = (await host.kv(this.#ns, "get", [k])) as Entry | null;
    if (!e) return { value: null, metadata: null, cacheStatus: null };
    return { value: decode(e.value, type), metadata: e.metadata === null ? null : JSON.parse(e.metadata), cacheStatus: null };
  }

  async put(key: unknown, value: unknown, options: { expiration?: unknown; expirationTtl?: unknown; metadata?: unknown } = {}): Promise<void> {
    const k = checkKey(key);
    const bytes = await valueBytes(value);
    const opts = {
      expiration: options.expiration,
      expirationTtl: options.expirationTtl,
      metadata: options.metadata === undefined ? null : JSON.stringify(options.metadata),
    };
    await host.kv(this.#ns, "put", [k, bytes, opts]);
  }

  async delete(key: unknown): Promise<void> {
    await host.kv(this.#ns, "delete", [checkKey(key)]);
  }

  async list(options: { prefix?: unknown; limit?: unknown; cursor?: unknown } = {}): Promise<{
    keys: Array<{ name: string; expiration?: number; metadata?: unknown }>; list_complete: boolean; cursor?: string; cacheStatus: null;
  }> {
    const prefix = options.prefix === undefined || options.prefix === null ? "" : String(options.prefix);
    const limit = options.limit === undefined || options.limit === null ? null : Number(options.limit);
    const cursor = options.cursor === undefined || options.cursor === null ? null : String(options.cursor);
    const r = (await host.kv(this.#ns, "list", [prefix, limit, cursor])) as { keys: ListKey[]; list_complete: boolean; cursor?: string };
    const keys = r.keys.map((k) => {
      const out: { name: string; expiration?: number; metadata?: unknown } = { name: k.name };
      if (k.expiration !== undefined) out.expiration = k.expiration;
      if (k.metadata !== undefined) out.metadata = JSON.parse(k.metadata);
      return out;
    });
    return r.list_complete ? { keys, list_complete: true, cacheStatus: null } : { keys, list_complete: false, cursor: r.cursor!, cacheStatus: null };
  }

  get [Symbol.toStringTag](): string { return "KvNamespace"; }
}
