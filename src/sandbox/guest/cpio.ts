/**
 * A cpio archive in the "newc" format (SVR4 without CRC), the format the Linux kernel unpacks as an
 * initramfs (Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte ASCII
 * header of 13 eight-digit hex fields, the NUL-terminated name padded to 4 bytes, the data padded to 4
 * bytes; the archive ends with the entry "TRAILER!!!".
 */
export interface CpioEntry {
  readonly name: string;
  /** Type and permission bits, e.g. 0o100755 for an executable file, 0o040755 for a directory. */
  readonly mode: number;
  readonly data?: Buffer;
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;
const hex8 = (n: number) => n.toString(16).padStart(8, "0");

export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (name: string, mode: number, data: Buffer) => {
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, mode & 0o040000 ? 2 : 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
    const header = Buffer.from(`070701${fields.map(hex8).join("")}`, "ascii");
    parts.push(header, nameBytes, Buffer.alloc(pad4(header.length + nameBytes.length)), data, Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) add(e.name, e.mode, e.data ?? Buffer.alloc(0));
  add("TRAILER!!!", 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}
