import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { hostOwner, parseStatus, writeInvocation } from "../../../src/sandbox/lxd/launcher.js";

test("the launcher's status says how the app ended: code, OOM kill, pids limit", () => {
  assert.deepEqual(parseStatus("code 3\noom_kill 0\npids_max 0\n"), { status: "exited", code: 3, reason: "exited" });
  assert.deepEqual(parseStatus("code 137\noom_kill 1\npids_max 0\n"), { status: "exited", code: 137, reason: "oom-killed" });
  assert.deepEqual(parseStatus("code 2\noom_kill 0\npids_max 4\n"), { status: "exited", code: 2, reason: "pids-limit" });
  assert.deepEqual(parseStatus("code 0\npids_max 4\n"), { status: "exited", code: 0, reason: "exited" }, "an app that ended well despite refused forks just exited");
  assert.deepEqual(parseStatus("code 143\n"), { status: "exited", code: 143, reason: "killed" });
  assert.deepEqual(parseStatus(""), { status: "exited", code: -1, reason: "exited" }, "no readable code is said as unknown");
});

test("the io directory's owner is the app's uid and gid as LXD's id map puts them on the host", () => {
  const map = JSON.stringify([
    { Isuid: true, Isgid: false, Hostid: 100000, Nsid: 0, Maprange: 65536 },
    { Isuid: false, Isgid: true, Hostid: 200000, Nsid: 0, Maprange: 65536 },
  ]);
  assert.deepEqual(hostOwner(map, 0, 0), { uid: 100000, gid: 200000 });
  assert.deepEqual(hostOwner(map, 1000, 50), { uid: 101000, gid: 200050 });
  assert.throws(() => hostOwner(map, 70000, 0), /no host uid for 70000/);
  assert.throws(() => hostOwner(undefined, 0, 0), /no host uid/);
});

test("the argv is written NUL-separated (with the cwd and the app's uid and gid), so spaces, quotes and newlines stay inside their argument", async () => {
  const dir = await mkdtemp(join(tmpdir(), "strata-launcher-"));
  try {
    const argv = ["/bin/sh", "-c", "echo 'a b'; printf \"x\\n\"", "line\nbreak"];
    await writeInvocation(join(dir, "io"), argv, "/srv/my app", { uid: 1000, gid: 100 });
    assert.deepEqual((await readFile(join(dir, "io", "argv"), "utf8")).split("\0").slice(0, -1), argv);
    assert.equal(await readFile(join(dir, "io", "cwd"), "utf8"), "/srv/my app\0");
    assert.equal(await readFile(join(dir, "io", "user"), "utf8"), "1000 100\n");
    await assert.rejects(writeInvocation(join(dir, "io2"), ["a\0b"], "/", { uid: 0, gid: 0 }), /NUL byte/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
