import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { StrataError } from "../../../src/errors.js";
import { GUEST_MODULES, guestKernel, withoutModuleSignature } from "../../../src/sandbox/guest/index.js";
import { moduleClosure, modinfo } from "../../../src/sandbox/guest/modinfo.js";

const MARKER = "~Module signature appended~\n";

/** A module body followed by a PKCS#7-style trailer as sign-file writes it: signature, module_signature, marker. */
function signed(body: Buffer, sigLen: number): Buffer {
  const info = Buffer.alloc(12);
  info[2] = 2; // id_type PKEY_ID_PKCS7
  info.writeUInt32BE(sigLen, 8);
  return Buffer.concat([body, Buffer.alloc(sigLen, 0xab), info, Buffer.from(MARKER, "latin1")]);
}

describe("withoutModuleSignature", () => {
  it("cuts the signature, its info block and the marker, and keeps the module's bytes", () => {
    const body = Buffer.from("\x7fELF module bytes");
    assert.deepEqual(withoutModuleSignature(signed(body, 40)), body);
  });

  it("returns an unsigned module as it is", () => {
    const body = Buffer.from("\x7fELF module bytes, no trailer");
    assert.equal(withoutModuleSignature(body), body);
  });

  it("refuses a trailer that claims more bytes than the file has", () => {
    const bogus = signed(Buffer.from("tiny"), 8);
    bogus.writeUInt32BE(1 << 20, bogus.length - MARKER.length - 4);
    assert.throws(() => withoutModuleSignature(bogus), (err: unknown) => err instanceof StrataError && err.code === "SANDBOX_UNAVAILABLE");
  });

  it("leaves each module of the guest kernel's initramfs whole: its ELF ends with its section headers, its modinfo reads", async (t) => {
    const kernel = await guestKernel().catch(() => undefined);
    if (!kernel) return t.skip("no guest kernel installed (scripts/setup-host.sh unpacks it)");
    for (const rel of await moduleClosure(kernel.modulesDir, GUEST_MODULES)) {
      const original: Buffer = await readFile(join(kernel.modulesDir, rel));
      assert.equal(original.subarray(-MARKER.length).toString("latin1"), MARKER, `Debian signs ${rel}`);
      const stripped = withoutModuleSignature(original);
      // A relocatable ELF64 object ends with its section header table: e_shoff + e_shnum * e_shentsize.
      const elfEnd = Number(stripped.readBigUInt64LE(0x28)) + stripped.readUInt16LE(0x3c) * stripped.readUInt16LE(0x3a);
      assert.equal(stripped.length, elfEnd, rel);
      assert.equal(modinfo(stripped).get("name")?.[0], rel.replace(/^.*\//, "").replace(/\.ko$/, ""));
    }
  });
});
