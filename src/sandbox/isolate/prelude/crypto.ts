import { DOMException, toBytes } from "./encoding.js";
import { host } from "./host.js";

/**
 * Web Crypto. Random bytes come from the engine's CSPRNG; crypto.subtle calls run in the engine's
 * WebCrypto, keys stay there and the isolate holds a CryptoKey handle.
 */
const HANDLE = Symbol("strata.cryptoKey");

export class CryptoKey {
  readonly type!: string;
  readonly extractable!: boolean;
  readonly algorithm!: unknown;
  readonly usages!: string[];
  [HANDLE]!: number;
  private constructor() {
    throw new TypeError("Illegal constructor");
  }
}

interface KeyHandle { __key: number; type: string; extractable: boolean; algorithm: unknown; usages: string[] }

function wrapKey(h: KeyHandle): CryptoKey {
  const key = Object.create(CryptoKey.prototype) as CryptoKey;
  Object.defineProperties(key, {
    type: { value: h.type, enumerable: true },
    extractable: { value: h.extractable, enumerable: true },
    algorithm: { value: Object.freeze(h.algorithm), enumerable: true },
    usages: { value: Object.freeze(h.usages), enumerable: true },
    [HANDLE]: { value: h.__key },
  });
  return key;
}

/** Arguments as the engine needs them: keys to handles, buffer views to plain ArrayBuffer copies. */
function toHost(v: unknown): unknown {
  if (v instanceof CryptoKey) return { __key: v[HANDLE] };
  if (v instanceof ArrayBuffer) return v.slice(0);
  if (ArrayBuffer.isView(v)) { const b = toBytes(v); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
  if (Array.isArray(v)) return v.map(toHost);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toHost(x)]));
  return v;
}

function fromHost(v: unknown): unknown {
  if (v && typeof v === "object" && "__key" in v) return wrapKey(v as KeyHandle);
  if (v && typeof v === "object" && "publicKey" in v && "privateKey" in v) {
    const pair = v as { publicKey: KeyHandle; privateKey: KeyHandle };
    return { publicKey: wrapKey(pair.publicKey), privateKey: wrapKey(pair.privateKey) };
  }
  return v;
}

async function call(method: string, args: unknown[]): Promise<unknown> {
  try {
    return fromHost(await host.subtle(method, args.map(toHost)));
  } catch (e) {
    throw new DOMException(e instanceof Error ? e.message : String(e), "OperationError");
  }
}

export class SubtleCrypto {
  digest(...a: unknown[]): Promise<unknown> { return call("digest", a); }
  encrypt(...a: unknown[]): Promise<unknown> { return call("encrypt", a); }
  decrypt(...a: unknown[]): Promise<unknown> { return call("decrypt", a); }
  sign(...a: unknown[]): Promise<unknown> { return call("sign", a); }
  verify(...a: unknown[]): Promise<unknown> { return call("verify", a); }
  generateKey(...a: unknown[]): Promise<unknown> { return call("generateKey", a); }
  deriveKey(...a: unknown[]): Promise<unknown> { return call("deriveKey", a); }
  deriveBits(...a: unknown[]): Promise<unknown> { return call("deriveBits", a); }
  importKey(...a: unknown[]): Promise<unknown> { return call("importKey", a); }
  exportKey(...a: unknown[]): Promise<unknown> { return call("exportKey", a); }
  wrapKey(...a: unknown[]): Promise<unknown> { return call("wrapKey", a); }
  unwrapKey(...a: unknown[]): Promise<unknown> { return call("unwrapKey", a); }
}

function getRandomValues<T extends ArrayBufferView | null>(array: T): T {
  if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView) {
    throw new DOMException("getRandomValues needs an integer typed array", "TypeMismatchError");
  }
  if (array.byteLength > 65536) throw new DOMException("getRandomValues: at most 65536 bytes", "QuotaExceededError");
  toBytes(array).set(new Uint8Array(host.randomBytes(array.byteLength)));
  return array;
}

function randomUUID(): string {
  const b = new Uint8Array(host.randomBytes(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const crypto = { subtle: new SubtleCrypto(), getRandomValues, randomUUID };
