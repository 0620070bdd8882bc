import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { stepWorkDir, sweepBuildpackWork } from "../../../src/build/buildpack/work-dirs.js";
import { StrataHome } from "../../../src/home.js";
import { exec } from "../../../src/system/exec.js";

test("the sweep unmounts and removes what killed build steps left", { skip: process.getuid?.() !== 0 ? "needs root to mount" : false }, async (t) => {
  const home = new StrataHome(await mkdtemp(join(tmpdir(), "strata-sweep-")));
  const merged = join(stepWorkDir(home, "app-v1-deps-dead00"), "merged");
  t.after(async () => {
    await exec(["umount", merged], { okCodes: [0, 32] }); // 32: not mounted (the sweep did its job)
    await rm(home.root, { recursive: true, force: true });
  });
  await mkdir(merged, { recursive: true });
  await exec(["mount", "-t", "tmpfs", "strata-test-sweep", merged]);
  await sweepBuildpackWork(home);
  assert.ok(!(await readFile("/proc/self/mountinfo", "utf8")).includes(merged));
  await assert.rejects(stat(stepWorkDir(home, "app-v1-deps-dead00")), { code: "ENOENT" });
});
