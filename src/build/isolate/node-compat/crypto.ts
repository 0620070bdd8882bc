/**
 * node:crypto under nodejs_compat, bundled into a worker by the isolate builder: the parts Workers has that
 * npm code leans on most. createHash/createHmac are computed by the engine's OpenSSL (a synchronous host
 * call at digest(), so every algorithm Node has works, with Node's output); randomBytes, randomUUID,
 * getRandomValues, subtle and webcrypto are the Web Crypto API's; timingSafeEqual compares in constant time.
 */
import { Buffer } from "node:buffer";
import { engineCall } from "./engine.js";

type Encoding = "hex" | "base64" | "base64url" | "latin1" | "binary" | "utf8" | "utf-8" | "ascii" | "utf16le" | "ucs2";
type Data = string | ArrayBuffer | ArrayBufferView;
function bytesOf(data: Data, encoding?: Encoding): Buffer {
  if (typeof data === "string") return Buffer.from(data, encoding as BufferEncoding | undefined);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received ${data === null ? "null" : typeof data}`);
}

function arrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function engineHash(alg: string, data: ArrayBuffer | null, key?: ArrayBuffer): ArrayBuffer | null {
  return engineCall<ArrayBuffer | null>("crypto.hash", alg, data, key);
}

/** Hash and Hmac keep what they are given and have the engine digest it once, at digest(). */
class Digest {
  #parts: Buffer[] = [];
  #done = false;
  constructor(
    readonly algorithm: string,
    private readonly key: ArrayBuffer | undefined,
  ) {
    engineHash(algorithm, null); // an unknown algorithm throws here, as Node's does
  }

  update(data: Data, inputEncoding?: Encoding): this {
    if (this.#done) throw new Error("Digest already called");
    this.#parts.push(Buffer.from(bytesOf(data, inputEncoding)));
    return this;
  }

  digest(): Buffer;
  digest(encoding: Encoding): string;
  digest(encoding?: Encoding): Buffer | string {
    if (this.#done) throw new Error("Digest already called");
    this.#done = true;
    const out = Buffer.from(engineHash(this.algorithm, arrayBuffer(Buffer.concat(this.#parts)), this.key)!);
    this.#parts = [];
    return encoding === undefined ? out : out.toString(encoding);
  }

  /** @internal */
  _parts(): Buffer[] {
    return this.#parts;
  }
}

export class Hash extends Digest {
  constructor(algorithm: string) {
    super(algorithm, undefined);
  }

  copy(): Hash {
    const h = new Hash(this.algorithm);
    for (const p of this._parts()) h.update(p);
    return h;
  }
}

export class Hmac extends Digest {
  constructor(algorithm: string, key: Data | { export(): Buffer }) {
    super(algorithm, arrayBuffer(typeof key === "object" && key !== null && "export" in key ? key.export() : bytesOf(key as Data)));
  }
}

export function createHash(algorithm: string): Hash {
  return new Hash(algorithm);
}

export function createHmac(algorithm: string, key: Data): Hmac {
  return new Hmac(algorithm, key);
}

/** One-shot hashing (Node 21.7+): hash(algorithm, data, outputEncoding = "hex"). */
export function hash(algorithm: string, data: Data, outputEncoding: Encoding | "buffer" = "hex"): string | Buffer {
  const h = createHash(algorithm).update(data);
  return outputEncoding === "buffer" ? h.digest() : h.digest(outputEncoding);
}

export function getHashes(): string[] {
  return engineCall<string[]>("crypto.getHashes");
}

const MAX_RANDOM_BYTES = 2 ** 31 - 1;

export function randomFillSync<T extends ArrayBufferView>(buffer: T, offset = 0, size = buffer.byteLength - offset): T {
  const view = new Uint8Array(buffer.buffer as ArrayBuffer, buffer.byteOffset + offset, size);
  for (let at = 0; at < view.length; at += 65536) crypto.getRandomValues(view.subarray(at, Math.min(at + 65536, view.length)));
  return buffer;
}

export function randomBytes(size: number): Buffer;
export function randomBytes(size: number, callback: (err: Error | null, buf: Buffer) => void): void;
export function randomBytes(size: number, callback?: (err: Error | null, buf: Buffer) => void): Buffer | void {
  if (typeof size !== "number" || !Number.isInteger(size) || size < 0 || size > MAX_RANDOM_BYTES) {
    throw new RangeError(`The value of "size" is out of range. It must be >= 0 && <= ${MAX_RANDOM_BYTES}. Received ${String(size)}`);
  }
  const buf = randomFillSync(Buffer.alloc(size));
  if (!callback) return buf;
  queueMicrotask(() => callback(null, buf));
}

export function randomInt(min: number, max?: number): number {
  if (max === undefined) [min, max] = [0, min];
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max <= min) throw new RangeError(`The "max" argument must be greater than "min" (${min}). Received ${max}`);
  const range = max - min;
  // Rejection sampling over 48 bits, as Node does, so every value is equally likely.
  const limit = 2 ** 48 - (2 ** 48 % range);
  for (;;) {
    const b = randomBytes(6);
    const x = b.readUIntBE(0, 6);
    if (x < limit) return min + (x % range);
  }
}

export function randomUUID(): string {
  return crypto.randomUUID();
}

export function getRandomValues<T extends ArrayBufferView>(array: T): T {
  return crypto.getRandomValues(array as unknown as Uint8Array<ArrayBuffer>) as unknown as T;
}

export function timingSafeEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b)) throw new TypeError('The "buf1" and "buf2" arguments must be one of type ArrayBuffer, Buffer, TypedArray, or DataView.');
  if (a.byteLength !== b.byteLength) throw new RangeError("Input buffers must have the same byte length");
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

export const webcrypto = crypto;
export const subtle = crypto.subtle;

export default {
  Hash, Hmac, createHash, createHmac, hash, getHashes, randomBytes, randomFillSync, randomInt, randomUUID, getRandomValues,
  timingSafeEqual, webcrypto, subtle,
};
