import { webcrypto } from "node:crypto";

/**
 * crypto.subtle for a tenant, done by the engine's WebCrypto. Keys never leave the engine: the
 * isolate holds a numbered handle ({ __key: n }) and its public metadata; this table maps handles
 * to real keys, per isolate generation (it is dropped with the isolate).
 */
const MAX_KEYS = 10_000;
const METHODS = new Set([
  "digest", "encrypt", "decrypt", "sign", "verify", "generateKey", "deriveKey", "deriveBits",
  "importKey", "exportKey", "wrapKey", "unwrapKey",
]);

interface KeyHandle {
  __key: number;
  type: string;
  extractable: boolean;
  algorithm: unknown;
  usages: string[];
}

function isCryptoKey(v: unknown): v is webcrypto.CryptoKey {
  // Node 20's webcrypto does not export the CryptoKey class; its instances carry this tag.
  return Object.prototype.toString.call(v) === "[object CryptoKey]";
}

export class SubtleBridge {
  private readonly keys = new Map<number, webcrypto.CryptoKey>();
  private next = 1;

  async call(method: string, args: unknown[]): Promise<unknown> {
    if (!METHODS.has(method)) throw new TypeError(`crypto.subtle.${method} is not supported`);
    const real = args.map((a) => this.toHost(a));
    const fn = (webcrypto.subtle as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!;
    const result = await fn.apply(webcrypto.subtle, real);
    return this.toTenant(result);
  }

  private toHost(value: unknown): unknown {
    if (value === null || typeof value !== "object") return value;
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
    if (Array.isArray(value)) return value.map((v) => this.toHost(v));
    const handle = (value as { __key?: unknown }).__key;
    if (typeof handle === "number") {
      const key = this.keys.get(handle);
      if (!key) throw new TypeError("unknown CryptoKey");
      return key;
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.toHost(v);
    return out;
  }

  private toTenant(value: unknown): unknown {
    if (isCryptoKey(value)) return this.register(value);
    if (value && typeof value === "object" && "privateKey" in value && "publicKey" in value) {
      const pair = value as webcrypto.CryptoKeyPair;
      return { publicKey: this.register(pair.publicKey), privateKey: this.register(pair.privateKey) };
    }
    return value;
  }

  private register(key: webcrypto.CryptoKey): KeyHandle {
    if (this.keys.size >= MAX_KEYS) throw new TypeError(`too many CryptoKeys (limit ${MAX_KEYS} per isolate)`);
    const id = this.next++;
    this.keys.set(id, key);
    return { __key: id, type: key.type, extractable: key.extractable, algorithm: key.algorithm, usages: [...key.usages] };
  }
}
