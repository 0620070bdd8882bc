import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SnapshotStore } from "../../../src/sandbox/microvm/snapshots.js";

const MIB = 1024 * 1024;
const root = await mkdtemp(join(tmpdir(), "strata-snapstore-"));
after(() => rm(root, { recursive: true, force: true }));

let n = 0;
/** A store in a fresh folder, and a run disk to snapshot with. */
async function fresh(budgetMb: number): Promise<{ store: SnapshotStore; dir: string; runDisk: string }> {
  const dir = join(root, `s${n++}`);
  await mkdir(dir);
  const runDisk = join(dir, "run.img");
  await writeFile(runDisk, Buffer.alloc(4096, 1));
  return { store: new SnapshotStore(join(dir, "snapshots"), budgetMb * MIB), dir, runDisk };
}

/** A snapshot of `mb` MiB of state (real bytes: the budget counts allocated blocks). */
const state = (mb: number) => (file: string) => writeFile(file, Buffer.alloc(mb * MIB, 7));

async function files(dir: string): Promise<string[]> {
  return (await readdir(join(dir, "snapshots"), { recursive: true })).filter((f) => f.includes(".")).sort();
}

async function age(path: string, secondsAgo: number): Promise<void> {
  const t = new Date(Date.now() - secondsAgo * 1000);
  await utimes(path, t, t);
}

describe("the microvm snapshot store", () => {
  it("stays within its disk budget: the least recently used snapshot goes first, a restore counts as a use, the newest stays", async () => {
    const { store, dir, runDisk } = await fresh(5);
    await store.put("ver-a", "k1", runDisk, state(2));
    await store.put("ver-b", "k2", runDisk, state(2));
    const a = (await store.get("ver-a", "k1"))!;
    const b = (await store.get("ver-b", "k2"))!;
    await age(b.state, 60); // ver-a was restored from more recently than ver-b
    await age(a.state, 10);
    assert.equal((await files(dir)).length, 4, "4 MiB and a little fit in 5 MiB");

    await store.put("ver-c", "k3", runDisk, state(2)); // 6 MiB: one must go
    assert.equal(await store.get("ver-b", "k2"), undefined, "the least recently used snapshot was evicted");
    assert.ok(await store.get("ver-a", "k1"));
    assert.ok(await store.get("ver-c", "k3"));
    assert.equal((await readdir(join(dir, "snapshots"))).length, 2, "an evicted version's empty folder goes too");

    await store.put("ver-d", "k4", runDisk, state(8)); // bigger than the whole budget: the others go, it stays
    assert.ok(await store.get("ver-d", "k4"));
    assert.equal(await store.get("ver-a", "k1"), undefined);
    assert.equal(await store.get("ver-c", "k3"), undefined);
  });

  it("removes what dead writers left (a temporary state file of a gone process, an old run disk without its state), not a live one's", async () => {
    const { store, dir, runDisk } = await fresh(64);
    await store.put("ver-a", "k1", runDisk, state(1));
    const vdir = join(dir, "snapshots", (await readdir(join(dir, "snapshots")))[0]!);
    const deadPid = 2 ** 22 + 1; // above pid_max's ceiling: no process has it
    await writeFile(join(vdir, `k2.vmstate.tmp-${deadPid}`), "half");
    await writeFile(join(vdir, `k3.vmstate.tmp-${process.pid}`), "being written");
    await writeFile(join(vdir, "k4.run.img"), "state never came");
    await age(join(vdir, "k4.run.img"), 3600);
    await writeFile(join(vdir, "k5.run.img"), "state coming");
    await store.prune();
    assert.deepEqual((await readdir(vdir)).sort(), ["k1.run.img", "k1.vmstate", `k3.vmstate.tmp-${process.pid}`, "k5.run.img"]);
  });

  it("removeVersion() removes every snapshot of a version and no other's", async () => {
    const { store, runDisk } = await fresh(64);
    await store.put("ver-a", "k1", runDisk, state(1));
    await store.put("ver-a", "k2", runDisk, state(1));
    await store.put("ver-b", "k1", runDisk, state(1));
    await store.removeVersion("ver-a");
    assert.equal(await store.get("ver-a", "k1"), undefined);
    assert.equal(await store.get("ver-a", "k2"), undefined);
    assert.ok(await store.get("ver-b", "k1"));
  });
});
