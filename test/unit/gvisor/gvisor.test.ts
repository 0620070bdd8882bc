import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import { conformanceImage, recordingIO, runConformance, waitForHttp, waitForState } from "../../../src/sandbox/conformance/index.js";
import { leftovers } from "../../../src/sandbox/conformance/helpers.js";
import { GvisorDriver, hostPidsLimit, runscBinary, taskBudget } from "../../../src/sandbox/gvisor/index.js";
import { applyHostPidsBudget } from "../../../src/sandbox/gvisor/resources.js";
import { runtimeConfig } from "../../../src/sandbox/oci/index.js";
import { exec } from "../../../src/system/exec.js";

// Under /var/tmp like the runc test: the same OCI bundles, the same overlay roots.
const root = await mkdtemp(join("/var/tmp", "strata-gvisor-"));
const home = new StrataHome(root);
const network = new HostNetwork(home, { bridge: "stratagv0", subnet: "10.233.7.0/24" });
await network.ensure();

// The suite stops what it starts: no runsc sandbox may be left in this run's state root. Whatever is left is
// swept (cgroups, netns and runsc state are scoped to this STRATA_HOME).
after(async () => {
  const driver = new GvisorDriver({ home, network });
  const state = join(home.runtime("gvisor"), "state");
  const runnable = (await driver.probe()).available; // else every test skipped and nothing was started
  const left = runnable ? (await exec([await runscBinary(), "--root", state, "list", "--quiet"], { okCodes: [0, 128] })).stdout.split("\n").filter(Boolean) : [];
  try {
    if (runnable) await driver.sweep(new Set());
  } finally {
    await driver.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
  assert.deepEqual(left, [], "every runsc sandbox was stopped by the tests");
});

runConformance({
  name: "gvisor",
  makeDriver: () => new GvisorDriver({ home, network }),
  image: () => conformanceImage(),
  hostAddress: network.gateway,
});

describe("gvisor driver", () => {
  it("shows the app gVisor's kernel, not the host's, and says which platform it chose", async (t) => {
    const driver = new GvisorDriver({ home, network, netStack: "netstack" });
    const probe = await driver.probe();
    if (!probe.available) return t.skip(`gvisor unavailable: ${probe.reason}`);
    assert.match(probe.details?.platform ?? "", /^(kvm|systrap|ptrace) \(/);
    assert.match(probe.details?.network ?? "", /netstack .* in the instance's own network namespace/);
    const image = await conformanceImage();
    const spec = {
      instanceId: `gv-kernel-${process.pid}`,
      app: "kernel",
      version: "v1",
      port: 8080,
      env: { PORT: "8080" },
      limits: { memoryMb: 128, cpuMillis: 1000, pids: 64 },
      command: ["/bin/sh", "-c", "cat /proc/version"],
    };
    const io = recordingIO();
    const instance = await driver.start(await driver.prepare(image, spec), spec, io);
    const platform = probe.details!.platform!.split(" ")[0];
    assert.equal(instance.detail, `${platform}, netstack`, "the instance names its platform (strata instances)");
    assert.equal(instance.handle.data.detail, instance.detail, "and keeps it in its handle for recovery");
    try {
      const state = await waitForState(driver, instance, (s) => s.status !== "running");
      assert.deepEqual(state, { status: "exited", code: 0, reason: "exited" });
      await driver.stop(instance, 0); // stops the log tail after a last read
      const inside = io.lines.find((l) => l.stream === "stdout")?.line ?? "";
      const host = (await readFile("/proc/version", "utf8")).trim();
      assert.match(inside, /^Linux version/, io.text());
      assert.notEqual(inside, host);
    } finally {
      await driver.stop(instance, 0);
    }
    assert.deepEqual(await leftovers(instance.id), []);
  });
});

describe("gvisor driver with the host's network stack (the default with the pinned runsc)", () => {
  it("still gives each instance its own namespace and address, and answers HTTP there", async (t) => {
    const driver = new GvisorDriver({ home, network, netStack: "host" });
    const probe = await driver.probe();
    if (!probe.available) return t.skip(`gvisor unavailable: ${probe.reason}`);
    assert.match(probe.details?.network ?? "", /host kernel's network stack .* instance's own network namespace/);
    const spec = {
      instanceId: `gv-hostnet-${process.pid}`,
      app: "hostnet",
      version: "v1",
      port: 8080,
      env: { PORT: "8080" },
      limits: { memoryMb: 128, cpuMillis: 1000, pids: 64 },
    };
    const instance = await driver.start(await driver.prepare(await conformanceImage(), spec), spec, recordingIO());
    try {
      assert.ok("host" in instance.endpoint && instance.endpoint.host.startsWith("10.233.7."));
      assert.equal((await waitForHttp(instance.endpoint)).body, "ok\n");
    } finally {
      await driver.stop(instance, 0);
    }
    assert.deepEqual(await leftovers(instance.id), []);
  });
});

describe("the bundle runsc gets", () => {
  it("has no user namespace, gVisor's own sysfs, and the pids limit as a host task budget", () => {
    const limits = { memoryMb: 128, cpuMillis: 500, pids: 32 };
    const config = runtimeConfig({
      instanceId: "gv-bundle",
      rootfs: "/r/rootfs",
      netnsPath: "/run/netns/strata-gv-bundle",
      hostsFile: "/r/hosts",
      cgroupsPath: "/strata/gvisor/gv-bundle",
      limits,
      process: { args: ["/app/server"], env: ["PORT=8080"], cwd: "/app", uid: 65534, gid: 65534 },
    }) as any;
    const budget = taskBudget("systrap", true);
    applyHostPidsBudget(config, limits.pids, budget);
    const ns = config.linux.namespaces.map((n: { type: string }) => n.type).sort();
    assert.deepEqual(ns, ["ipc", "mount", "network", "pid", "uts"]);
    assert.equal(config.linux.uidMappings, undefined);
    assert.deepEqual(config.mounts.find((m: { destination: string }) => m.destination === "/sys").type, "sysfs");
    assert.equal(config.linux.resources.pids.limit, hostPidsLimit(32, budget));
    assert.ok(hostPidsLimit(32, budget) > 26, "room for the sandbox's own 26 idle tasks (systrap)");
    assert.ok(hostPidsLimit(32, taskBudget("ptrace", false)) > 45, "and Debian's runsc's 45 on ptrace");
    assert.equal(config.linux.resources.memory.limit, 128 * 1024 * 1024, "memory is the sandbox's whole charge");
  });
});
