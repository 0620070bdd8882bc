import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { GoBuilder } from "../../../src/build/go/builder.js";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import { leftovers, recordingIO, waitForHttp } from "../../../src/sandbox/conformance/index.js";
import { GvisorDriver } from "../../../src/sandbox/gvisor/index.js";
import { imageToolsMissing } from "../images/shared-store.js";
import { buildContext } from "../buildpacks/build-harness.js";

const FIXTURES = new URL("../../fixtures/apps/", import.meta.url).pathname;

test("a Go app with a vendored module and main: ./cmd/web builds and answers HTTP under gVisor", { timeout: 20 * 60_000 }, async (t) => {
  const missingReason = await imageToolsMissing();
  if (missingReason) return t.skip(missingReason);
  const root = await mkdtemp(join("/var/tmp", "strata-go-gvisor-"));
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratagvgo0", subnet: "10.233.9.0/24" });
  const driver = new GvisorDriver({ home, network });
  let runnable = false;
  t.after(async () => {
    if (runnable) await driver.sweep(new Set()); // the instance is stopped below; this clears what a failed start left
    await driver.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  });
  const probe = await driver.probe();
  if (!probe.available) return t.skip(`gvisor unavailable: ${probe.reason}`);
  runnable = true;

  const ctx = buildContext(t, join(FIXTURES, "go-vendored"), { runtime: "go119", main: "./cmd/web" });
  const built = await new GoBuilder().build(ctx);
  assert.ok(ctx.lines.some((l) => /main package \.\/cmd\/web; modules from vendor\//.test(l)), ctx.lines.join("\n"));

  const spec = {
    instanceId: `go-gv-${process.pid}`,
    app: ctx.app,
    version: "v1",
    port: 8080,
    env: { PORT: "8080", GAE_SERVICE: "default" },
    limits: { memoryMb: 256, cpuMillis: 1000, pids: 128 },
  };
  const io = recordingIO();
  const instance = await driver.start(await driver.prepare(built.image, spec), spec, io);
  try {
    assert.equal((await waitForHttp(instance.endpoint)).body, "hello gvisor from a vendored module\n");
  } finally {
    await driver.stop(instance, 2000);
  }
  assert.deepEqual(await leftovers(instance.id), []);
});
