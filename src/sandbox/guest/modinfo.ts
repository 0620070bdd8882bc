import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";

/**
 * Reads a kernel module's `.modinfo` section (NUL-separated key=value strings) from its ELF64 file, for
 * its `depends=` list: the host has no kmod/depmod, and Debian's package ships no modules.dep.
 */
export function modinfo(elf: Buffer): Map<string, string[]> {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) throw new StrataError("INTERNAL", "not an ELF64 kernel module");
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 0x18)), size: Number(elf.readBigUInt64LE(at + 0x20)) };
  };
  const names = section(shstrndx);
  const out = new Map<string, string[]>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameEnd = elf.indexOf(0, names.offset + s.name);
    if (elf.toString("latin1", names.offset + s.name, nameEnd) !== ".modinfo") continue;
    for (const kv of elf.toString("utf8", s.offset, s.offset + s.size).split("\0")) {
      const eq = kv.indexOf("=");
      if (eq > 0) out.set(kv.slice(0, eq), [...(out.get(kv.slice(0, eq)) ?? []), kv.slice(eq + 1)]);
    }
  }
  return out;
}

/**
 * The modules to load for `wanted` (names, `-` or `_`), dependencies first, as paths relative to the
 * modules tree. Names built into the kernel (modules.builtin) are left out.
 */
export async function moduleClosure(modulesDir: string, wanted: readonly string[]): Promise<string[]> {
  const norm = (n: string) => n.replace(/-/g, "_");
  const byName = new Map<string, string>();
  const builtin = new Set<string>();
  for (const line of (await readFile(join(modulesDir, "modules.builtin"), "utf8")).split("\n")) {
    if (line) builtin.add(norm(line.replace(/^.*\//, "").replace(/\.ko$/, "")));
  }
  for (const line of (await readFile(join(modulesDir, "modules.order"), "utf8")).split("\n")) {
    if (line) byName.set(norm(line.replace(/^.*\//, "").replace(/\.ko$/, "")), line.replace(/^kernel\//, "kernel/"));
  }
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = async (name: string): Promise<void> => {
    const n = norm(name);
    if (seen.has(n) || builtin.has(n)) return;
    seen.add(n);
    const rel = byName.get(n);
    if (!rel) throw new StrataError("SANDBOX_UNAVAILABLE", `the guest kernel has no module ${name} (in ${modulesDir})`);
    const deps = (modinfo(await readFile(join(modulesDir, rel))).get("depends") ?? []).flatMap((d) => d.split(",")).filter(Boolean);
    for (const d of deps) await visit(d);
    order.push(rel);
  };
  for (const w of wanted) await visit(w);
  return order;
}
