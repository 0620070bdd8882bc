import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { stepWorkDir, sweepBuildpackWork } from "../../../src/build/buildpack/work-dirs.js";
import { StrataHome } from "../../../src/home.js";
import { exec } from "../../../src/system/exec.js";

test("the sweep unmounts and removes what killed build steps left", { skip: process.getuid?.() !== 0 ? "needs root to mount" : false }, async (t) => {
  const home = new StrataHome(await mkdtemp(join(tmpdir(), "strata-sweep-")));
  const merged = join(stepWorkDir(home, "app-v1-deps-dead00"), "merged");
  const netns = join(stepWorkDir(home, "app-v1-deps-dead00"), "netns");
  t.after(async () => {
    for (const m of [merged, netns]) await exec(["umount", m], { okCodes: [0, 32] }); // 32: not mounted (the sweep did its job)
    await rm(home.root, { recursive: true, force: true });
  });
  await mkdir(merged, { recursive: true });
  await exec(["mount", "-t", "tmpfs", "strata-test-sweep", merged]);
  await writeFile(netns, "");
  await exec(["unshare", `--net=${netns}`, "true"]); // an outbound step's namespace file, as OutboundNetwork makes it
  await sweepBuildpackWork(home);
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  assert.ok(!mountinfo.includes(merged));
  assert.ok(!mountinfo.includes(netns));
  await assert.rejects(stat(stepWorkDir(home, "app-v1-deps-dead00")), { code: "ENOENT" });
});
