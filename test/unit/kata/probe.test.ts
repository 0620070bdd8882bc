import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { chooseKataMode } from "../../../src/sandbox/kata/index.js";
import { chooseAccel } from "../../../src/sandbox/guest/index.js";
import { guestKernel } from "../../../src/sandbox/guest/index.js";

// Kata cannot run here (no KVM that runs guests), so the one real thing to test is the choice and what
// doctor says: an executable named kata-runtime on PATH stands for an installed Kata (it is never run).
const bin = await mkdtemp(join(tmpdir(), "strata-kata-bin-"));
const path = process.env.PATH;
after(async () => {
  process.env.PATH = path;
  await rm(bin, { recursive: true, force: true });
});

async function withOnPath(names: string[], fn: () => Promise<void>): Promise<void> {
  for (const n of names) {
    await writeFile(join(bin, n), "#!/bin/sh\nexit 1\n");
    await chmod(join(bin, n), 0o755);
  }
  process.env.PATH = `${bin}:${path ?? ""}`;
  try {
    await fn();
  } finally {
    process.env.PATH = path;
    for (const n of names) await rm(join(bin, n), { force: true });
  }
}

describe("chooseKataMode (which of the two ways strata doctor reports)", () => {
  it("uses Strata's agent when no Kata is installed", async () => {
    process.env.PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
    try {
      assert.deepEqual(await chooseKataMode(), { kind: "agent", why: "no kata-runtime or containerd-shim-kata-v2 on this host" });
    } finally {
      process.env.PATH = path;
    }
  });

  it("hands bundles to kata-runtime only where QEMU runs a guest on /dev/kvm, and says why not otherwise", async () => {
    const kernel = await guestKernel().catch(() => undefined);
    const kvm = kernel ? (await chooseAccel("qemu-system-x86_64", kernel.vmlinux)).accel === "kvm" : false;
    await withOnPath(["kata-runtime"], async () => {
      const mode = await chooseKataMode();
      if (kvm) assert.deepEqual(mode, { kind: "runtime", binary: join(bin, "kata-runtime"), why: `${join(bin, "kata-runtime")} and a /dev/kvm that runs guests` });
      else assert.match(mode.kind === "agent" ? mode.why : "", /^Kata is installed, but /);
    });
    await withOnPath(["containerd-shim-kata-v2"], async () => {
      const mode = await chooseKataMode();
      assert.equal(mode.kind, "agent", "the shim alone needs containerd");
      if (kvm) assert.match(mode.why, /needs containerd/);
    });
  });
});
