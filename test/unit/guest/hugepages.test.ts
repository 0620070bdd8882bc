import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hugetlbfsMount, hugetlbPool, launchOnHugePages, parseMeminfoHugePages, parseSmapsHugetlb } from "../../../src/sandbox/guest/hugepages.js";

const TWO_MIB = 2 * 1024 * 1024;

describe("huge page pool", () => {
  it("reads the pool's size, free pages and page size from /proc/meminfo", () => {
    const meminfo = "MemTotal:       24683520 kB\nHugePages_Total:     512\nHugePages_Free:      300\nHugePages_Rsvd:        4\nHugepagesize:       2048 kB\n";
    assert.deepEqual(parseMeminfoHugePages(meminfo), { total: 512, free: 300, pageBytes: TWO_MIB });
    assert.equal(parseMeminfoHugePages("MemTotal: 1 kB\n"), undefined, "a kernel without hugetlb");
  });

  it("finds the hugetlbfs mount of the default page size, not one of another size or another file system", () => {
    const mounts = [
      "proc /proc proc rw,relatime 0 0",
      "hugetlbfs /mnt/huge1g hugetlbfs rw,relatime,pagesize=1024M 0 0",
      "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0",
    ].join("\n");
    assert.equal(hugetlbfsMount(mounts, TWO_MIB), "/dev/hugepages");
    assert.equal(hugetlbfsMount("none /huge\\040pages hugetlbfs rw 0 0", TWO_MIB), "/huge pages", "no pagesize option: the default size; octal escapes decoded");
    assert.equal(hugetlbfsMount("tmpfs /dev/hugepages tmpfs rw 0 0", TWO_MIB), undefined);
  });

  it("sums a process's shared and private huge pages from smaps_rollup", () => {
    const rollup = "Rss:  1716 kB\nAnonHugePages:  2048 kB\nShared_Hugetlb:  4096 kB\nPrivate_Hugetlb:  161792 kB\nSwap:  0 kB\n";
    assert.equal(parseSmapsHugetlb(rollup), (4096 + 161792) * 1024);
    assert.equal(parseSmapsHugetlb(""), 0, "a process that is gone maps nothing");
  });

  it("launches on the pool, and again on anonymous memory when QEMU finds the pool's last pages taken", async (t) => {
    const pool = await hugetlbPool();
    if (!pool || pool.freeBytes < 64 * 1024 ** 2) return t.skip("no hugetlbfs pool with 64 MiB free (scripts/setup-host.sh reserves one)");
    const tried: Array<string | undefined> = [];
    const notes: string[] = [];
    const pid = await launchOnHugePages(64, true, async (memPath) => {
      tried.push(memPath);
      if (memPath) throw new Error("qemu-system-x86_64 ... exited 1: qemu-system-x86_64: unable to map backing store for guest RAM: Cannot allocate memory");
      return 42;
    }, (line) => notes.push(line));
    assert.equal(pid, 42);
    assert.deepEqual(tried, [pool.mount, undefined]);
    assert.match(notes.join("\n"), /no room left/);

    await assert.rejects(
      launchOnHugePages(64, true, async () => { throw new Error("qemu-system-x86_64: -kernel: no such file"); }),
      /no such file/,
      "any other failure is the launch's own, not retried",
    );
    const off: Array<string | undefined> = [];
    await launchOnHugePages(64, false, async (memPath) => off.push(memPath));
    assert.deepEqual(off, [undefined], "turned off: anonymous memory, one launch");
    const tooBig: Array<string | undefined> = [];
    await launchOnHugePages(pool.freeBytes / 1024 ** 2 + 2, true, async (memPath) => tooBig.push(memPath));
    assert.deepEqual(tooBig, [undefined], "a guest bigger than the pool's free pages: anonymous memory");
  });
});
