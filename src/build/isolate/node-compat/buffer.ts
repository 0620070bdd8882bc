/**
 * node:buffer under nodejs_compat, bundled into a worker by the isolate builder: the npm `buffer` package
 * (feross/buffer, Node's Buffer for bundlers), with the one encoding it lacks that Node has had since
 * 15.7, "base64url" (RFC 4648 §5): its decoder already reads the URL-safe alphabet, so decoding is
 * base64's, and encoding is base64's with "-", "_" and no padding.
 */
import * as npmBuffer from "buffer/index.js";

/** The package's types declare its Buffer only. */
const npm = npmBuffer as typeof npmBuffer & { SlowBuffer: unknown; INSPECT_MAX_BYTES: number; kMaxLength: number };
const Buffer = npm.Buffer;
type Encoding = string | undefined;

const isBase64Url = (encoding: unknown): boolean => typeof encoding === "string" && encoding.toLowerCase() === "base64url";
const base64 = (encoding: Encoding): Encoding => (isBase64Url(encoding) ? "base64" : encoding);

const isEncoding = Buffer.isEncoding.bind(Buffer);
Buffer.isEncoding = (encoding: string): boolean => isBase64Url(encoding) || isEncoding(encoding);

const byteLength = Buffer.byteLength.bind(Buffer);
Buffer.byteLength = ((string: unknown, encoding?: string) => byteLength(string as string, base64(encoding) as never)) as typeof Buffer.byteLength;

const from = Buffer.from.bind(Buffer) as (...args: unknown[]) => npmBuffer.Buffer;
Buffer.from = ((value: unknown, encodingOrOffset?: unknown, length?: unknown) =>
  typeof value === "string" ? from(value, base64(encodingOrOffset as Encoding)) : from(value, encodingOrOffset, length)) as typeof Buffer.from;

const toString = Buffer.prototype.toString;
Buffer.prototype.toString = function (this: npmBuffer.Buffer, encoding?: string, start?: number, end?: number): string {
  if (!isBase64Url(encoding)) return toString.apply(this, arguments as unknown as [string?, number?, number?]);
  return toString.call(this, "base64", start, end).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

const write = Buffer.prototype.write;
Buffer.prototype.write = function (this: npmBuffer.Buffer, string: string, ...rest: unknown[]): number {
  const last = rest.length - 1;
  if (last >= 0 && isBase64Url(rest[last])) rest[last] = "base64";
  return (write as (...args: unknown[]) => number).call(this, string, ...rest);
};

export { Buffer };
export const { SlowBuffer, INSPECT_MAX_BYTES, kMaxLength } = npm;
export const constants = { MAX_LENGTH: npm.kMaxLength, MAX_STRING_LENGTH: 2 ** 29 - 24 };
export const atob = globalThis.atob;
export const btoa = globalThis.btoa;
export const Blob = globalThis.Blob;
export const File = globalThis.File;
export default { Buffer, SlowBuffer, INSPECT_MAX_BYTES, kMaxLength, constants, atob, btoa, Blob, File };
