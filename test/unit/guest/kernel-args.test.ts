import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { guestKernel, guestKernelArgs } from "../../../src/sandbox/guest/index.js";
import { guestCmdline } from "../../../src/sandbox/microvm/index.js";
import { vmCmdline } from "../../../src/sandbox/vm/qemu.js";

const blacklisted = (args: string[]) => args.find((a) => a.startsWith("initcall_blacklist="))?.slice("initcall_blacklist=".length).split(",") ?? [];

describe("guestKernelArgs", () => {
  it("gives a TCG guest the host's TSC frequency, and no TSC arguments when it is unknown", () => {
    assert.ok(guestKernelArgs(2_299_998).includes("tsc_early_khz=2299998"));
    assert.ok(guestKernelArgs(2_299_998).includes("tsc=reliable"));
    assert.equal(guestKernelArgs(undefined).some((a) => a.startsWith("tsc")), false);
  });

  it("is the base of both machines' command lines: microvm has no PCI to probe, a PC keeps its bus", () => {
    const microvm = guestCmdline(1000).split(" ");
    const pc = vmCmdline(1000).split(" ");
    for (const arg of guestKernelArgs(1000)) {
      assert.ok(microvm.includes(arg), `microvm: ${arg}`);
      assert.ok(pc.includes(arg), `vm: ${arg}`);
    }
    assert.ok(microvm.includes("pci=off"));
    assert.equal(pc.includes("pci=off"), false);
  });

  // The kernel ignores an initcall_blacklist name it does not have, so a misspelt or renamed one would
  // silently cost its boot time again.
  it("skips only initcalls the guest kernel has (each name a whole symbol name in its vmlinux)", async (t) => {
    const kernel = await guestKernel().catch(() => undefined);
    if (!kernel) return t.skip("no guest kernel installed (scripts/setup-host.sh builds it)");
    const image = await readFile(kernel.vmlinux);
    const names = blacklisted(guestKernelArgs(undefined));
    assert.ok(names.length > 0);
    for (const name of names) assert.ok(image.includes(Buffer.from(`\0${name}\0`, "latin1")), `${name} is not in ${kernel.vmlinux}`);
    assert.equal(image.includes(Buffer.from("\0crypto_kdf108_ini\0", "latin1")), false, "a part of a name is not a name");
  });
});
