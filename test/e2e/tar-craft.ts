import { gzipSync } from "node:zlib";

/** Hand-made tar entries, for archives no well-behaved tool would write (traversal, devices, escapes). */
export interface RawEntry {
  name: string;
  /** "0" file, "1" hardlink, "2" symlink, "3" char device, "4" block device, "5" dir, "6" fifo */
  type: "0" | "1" | "2" | "3" | "4" | "5" | "6";
  body?: string;
  linkname?: string;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(e: RawEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100);
  h.write(octal(e.type === "5" ? 0o755 : 0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(0, 12), 136);
  h.write("        ", 148);
  h.write(e.type, 156);
  if (e.linkname) h.write(e.linkname, 157, 100);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148);
  return h;
}

export function craftTarGz(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? "");
    parts.push(header(e, e.type === "0" ? body.length : 0));
    if (e.type === "0" && body.length) {
      parts.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts));
}
