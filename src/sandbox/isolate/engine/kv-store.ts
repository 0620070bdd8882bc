import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * One Workers KV namespace kept on disk: a file per key (named by the key's SHA-256), holding a JSON
 * header line ({ key, expiration?, metadata? }) and then the value's bytes. Writes go through a
 * temporary file and rename, so a reader in this or another engine process sees a whole value or none.
 * Limits and error texts are those of Cloudflare's KV API as workerd reports them ("KV PUT failed: 414 ...").
 */
export interface KvEntry { value: ArrayBuffer; metadata: string | null }
export interface KvListKey { name: string; expiration?: number; metadata?: string }
export interface KvListResult { keys: KvListKey[]; list_complete: boolean; cursor?: string }
export interface KvPutOptions { expiration?: number; expirationTtl?: number; metadata?: string | null }

interface Header { key: string; expiration?: number; metadata?: string }

const MAX_KEY_BYTES = 512;
const MAX_METADATA_BYTES = 1024;
const MAX_VALUE_BYTES = 25 * 1024 * 1024;
const MIN_TTL_S = 60;
const MAX_LIST_LIMIT = 1000;
/** A header is at most a 512-byte key and 1 KiB of metadata, JSON-escaped: it fits in this many bytes. */
const HEADER_READ_BYTES = 16 * 1024;

/** A refusal as Cloudflare's KV service words it; the prelude throws it as an Error. */
export class KvError extends Error {}

export class KvStore {
  private ready: Promise<void> | null = null;

  constructor(readonly dir: string) {}

  private file(key: string): string {
    return join(this.dir, createHash("sha256").update(key).digest("hex"));
  }

  private static checkKey(op: string, key: string): void {
    const len = Buffer.byteLength(key);
    if (len > MAX_KEY_BYTES) throw new KvError(`KV ${op} failed: 414 UTF-8 encoded length of ${len} exceeds key length limit of ${MAX_KEY_BYTES}.`);
  }

  async get(key: string): Promise<KvEntry | null> {
    KvStore.checkKey("GET", key);
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    const nl = bytes.indexOf(10);
    const header = JSON.parse(bytes.subarray(0, nl).toString("utf8")) as Header;
    if (expired(header)) return null;
    const value = bytes.buffer.slice(bytes.byteOffset + nl + 1, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    return { value, metadata: header.metadata ?? null };
  }

  async put(key: string, value: ArrayBuffer, opts: KvPutOptions): Promise<void> {
    KvStore.checkKey("PUT", key);
    const now = Math.floor(Date.now() / 1000);
    let expiration: number | undefined;
    if (opts.expirationTtl !== undefined) {
      const ttl = opts.expirationTtl;
      if (!Number.isFinite(ttl) || ttl < MIN_TTL_S) {
        throw new KvError(`KV PUT failed: 400 Invalid expiration_ttl of ${ttl}. Expiration TTL must be at least ${MIN_TTL_S}.`);
      }
      expiration = now + Math.floor(ttl);
    } else if (opts.expiration !== undefined) {
      const at = opts.expiration;
      if (!Number.isFinite(at) || at <= now) {
        throw new KvError(`KV PUT failed: 400 Invalid expiration of ${at}. Please specify integer greater than the current number of seconds since the UNIX epoch.`);
      }
      if (at < now + MIN_TTL_S) {
        throw new KvError(`KV PUT failed: 400 Invalid expiration of ${at}. Expiration times must be at least ${MIN_TTL_S} seconds in the future.`);
      }
      expiration = Math.floor(at);
    }
    if (opts.metadata != null) {
      const len = Buffer.byteLength(opts.metadata);
      if (len > MAX_METADATA_BYTES) throw new KvError(`KV PUT failed: 413 Metadata length of ${len} exceeds limit of ${MAX_METADATA_BYTES}.`);
    }
    if (value.byteLength > MAX_VALUE_BYTES) {
      throw new KvError(`KV PUT failed: 413 Value length of ${value.byteLength} exceeds limit of ${MAX_VALUE_BYTES}.`);
    }
    const header: Header = { key, ...(expiration !== undefined && { expiration }), ...(opts.metadata != null && { metadata: opts.metadata }) };
    this.ready ??= mkdir(this.dir, { recursive: true }).then(() => undefined);
    await this.ready;
    const target = this.file(key);
    const tmp = `${target}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(tmp, Buffer.concat([Buffer.from(JSON.stringify(header) + "\n"), new Uint8Array(value)]));
    await rename(tmp, target);
  }

  async delete(key: string): Promise<void> {
    KvStore.checkKey("DELETE", key);
    await rm(this.file(key), { force: true });
  }

  /**
   * Keys in UTF-8 byte order (Cloudflare's), from `prefix`, at most `limit`; `cursor` is the last key of
   * the page before, base64url-encoded. Each call reads every key's header: fine for the namespaces an
   * app keeps on one host, not for millions of keys.
   */
  async list(prefix: string, limit: number | undefined, cursor: string | undefined): Promise<KvListResult> {
    // workerd sends no limit of 0 or less (the default, 1000, applies), as for none.
    const max = limit === undefined || limit <= 0 ? MAX_LIST_LIMIT : limit;
    if (Number.isNaN(max)) throw new KvError(`KV GET failed: 400 Invalid key_count_limit of ${limit}. Please specify an integer greater than 0.`);
    if (max > MAX_LIST_LIMIT) throw new KvError(`KV GET failed: 400 Invalid key_count_limit of ${limit}. Please specify an integer less than ${MAX_LIST_LIMIT}.`);
    const after = cursor ? Buffer.from(cursor, "base64url") : null;
    const names = await readdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [] as string[];
      throw err;
    });
    const keys: Array<{ raw: Buffer; key: KvListKey }> = [];
    for (const name of names) {
      if (name.endsWith(".tmp")) continue;
      const header = await readHeader(join(this.dir, name));
      if (!header || expired(header) || !header.key.startsWith(prefix)) continue;
      const raw = Buffer.from(header.key);
      if (after && Buffer.compare(raw, after) <= 0) continue;
      const key: KvListKey = { name: header.key };
      if (header.expiration !== undefined) key.expiration = header.expiration;
      if (header.metadata !== undefined) key.metadata = header.metadata;
      keys.push({ raw, key });
    }
    keys.sort((a, b) => Buffer.compare(a.raw, b.raw));
    const page = keys.slice(0, max);
    if (keys.length <= max) return { keys: page.map((k) => k.key), list_complete: true };
    return { keys: page.map((k) => k.key), list_complete: false, cursor: page[page.length - 1]!.raw.toString("base64url") };
  }
}

function expired(h: Header): boolean {
  return h.expiration !== undefined && h.expiration <= Date.now() / 1000;
}

/** A key file's header line, or null when the file went away meanwhile (deleted, or being replaced). */
async function readHeader(file: string): Promise<Header | null> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    const buf = Buffer.alloc(HEADER_READ_BYTES);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const nl = buf.subarray(0, bytesRead).indexOf(10);
    if (nl < 0) throw new Error(`KV file ${file} has no header line`);
    return JSON.parse(buf.subarray(0, nl).toString("utf8")) as Header;
  } finally {
    await handle.close();
  }
}

/** Runs one KV call from the prelude (prelude/kv.ts) on `store`: its operation name and arguments as sent. */
export async function kvCall(store: KvStore | undefined, op: string, args: unknown[]): Promise<unknown> {
  if (!store) throw new Error("no such KV binding");
  const str = (v: unknown): string => String(v);
  switch (op) {
    case "get":
      return await store.get(str(args[0]));
    case "put": {
      if (!(args[1] instanceof ArrayBuffer)) throw new TypeError("a KV value crosses as bytes");
      const o = (args[2] ?? {}) as { expiration?: unknown; expirationTtl?: unknown; metadata?: unknown };
      const num = (v: unknown): number | undefined => (v === undefined || v === null ? undefined : Number(v));
      await store.put(str(args[0]), args[1], {
        expiration: num(o.expiration),
        expirationTtl: num(o.expirationTtl),
        metadata: typeof o.metadata === "string" ? o.metadata : null,
      });
      return null;
    }
    case "delete":
      await store.delete(str(args[0]));
      return null;
    case "list":
      return await store.list(str(args[0] ?? ""), args[1] === undefined || args[1] === null ? undefined : Number(args[1]), args[2] ? str(args[2]) : undefined);
    default:
      throw new TypeError(`unknown KV operation ${op}`);
  }
}
