/** The npm string_decoder package (Node's string_decoder for bundlers) ships no types. */
declare module "string_decoder/lib/string_decoder.js" {
  export class StringDecoder {
    constructor(encoding?: string);
    readonly encoding: string;
    write(buffer: Uint8Array | string): string;
    end(buffer?: Uint8Array | string): string;
  }
}
