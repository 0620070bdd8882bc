/**
 * node:string_decoder under nodejs_compat, bundled into a worker by the isolate builder: the npm
 * `string_decoder` package (Node's own, for bundlers), taking any Uint8Array as Node's does (the package
 * expects a Buffer).
 */
import { Buffer } from "node:buffer";
import * as npm from "string_decoder/lib/string_decoder.js";

type Input = Uint8Array | string;
const Base = npm.StringDecoder;
const asBuffer = (b: Input): Input => (typeof b === "string" || Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export class StringDecoder extends Base {
  override write(b: Input): string {
    return super.write(asBuffer(b));
  }

  override end(b?: Input): string {
    return b === undefined ? super.end() : super.end(asBuffer(b));
  }
}

export default { StringDecoder };
