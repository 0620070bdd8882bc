import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agentRunFor } from "../../../src/sandbox/kata/index.js";

describe("agentRunFor (the container request the guest agent receives)", () => {
  const net = { address: "10.0.0.5", prefix: 24, gateway: "10.0.0.1", mac: "02:53:0a:00:00:05" };
  const spec = { instanceId: "i-1", app: "a", version: "v", port: 8080, env: {}, limits: { memoryMb: 384, cpuMillis: 1000, pids: 64 } };
  const run = agentRunFor("i-1", { args: ["/srv/app", "--port", "8080"], env: ["PORT=8080"], cwd: "/srv", uid: 65534, gid: 65534 }, spec, net);

  it("hands the rootfs over as a read-only block device Storage, mounted where the spec's root points", () => {
    assert.deepEqual(run.storages, [{ driver: "blk", source: "/dev/vda", fstype: "ext4", options: ["ro"], mountPoint: "/run/kata/containers/i-1/image" }]);
    assert.deepEqual(run.spec.root, { path: "/run/kata/containers/i-1/image", readonly: true });
  });

  it("carries the image's process, user and working dir, the instance's memory and the namespaces the agent makes", () => {
    assert.deepEqual(run.spec.process.args, ["/srv/app", "--port", "8080"]);
    assert.deepEqual(run.spec.process.user, { uid: 65534, gid: 65534, additionalGids: [] });
    assert.equal(run.spec.process.cwd, "/srv");
    assert.equal(run.spec.linux.resources.memory.limit, 384 * 2 ** 20);
    assert.equal(run.spec.linux.resources.pids.limit, 64);
    assert.deepEqual(run.spec.linux.namespaces.map((n) => n.type), ["mount", "pid", "uts", "ipc"]);
    assert.equal(run.spec.hostname, "i-1");
    assert.ok(run.spec.mounts.some((m) => m.destination === "/tmp" && m.type === "tmpfs"), "a writable /tmp over the read-only root");
  });
});
