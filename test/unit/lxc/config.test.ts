import { test } from "node:test";
import assert from "node:assert/strict";
import { lxcConfig } from "../../../src/sandbox/lxc/index.js";
import { StrataError } from "../../../src/errors.js";

const plan = {
  instanceId: "i-1", rootfs: "/r/rootfs", netnsPath: "/run/netns/strata-x-1", hostsFile: "/r/hosts", busybox: "/bin/busybox",
  mainScript: "/run/lxc/main.sh", cgroupDir: "strata/x/lxc/i-1/lxc", monitorCgroupDir: "strata/x/lxc-monitor/i-1",
  idMap: { hostId: 100000, size: 65536 },
  process: { args: ["/app/run"], env: ["PORT=8080", "GREETING=hello world"], cwd: "/app", uid: 65534, gid: 65534 },
};

test("an unprivileged container in the instance netns, its own cgroups, the app's user, env and cwd", () => {
  const conf = lxcConfig(plan);
  for (const line of [
    "lxc.idmap = u 0 100000 65536",
    "lxc.idmap = g 0 100000 65536",
    "lxc.namespace.share.net = /run/netns/strata-x-1",
    "lxc.cgroup.dir.container = strata/x/lxc/i-1/lxc",
    "lxc.cgroup.dir.monitor = strata/x/lxc-monitor/i-1",
    "lxc.init.uid = 65534",
    "lxc.init.cwd = /app",
    "lxc.environment = GREETING=hello world",
    "lxc.no_new_privs = 1",
    "lxc.console.path = none",
  ]) assert.ok(conf.split("\n").includes(line), `missing "${line}" in:\n${conf}`);
  assert.doesNotMatch(conf, /cap\.keep = .*sys_admin/);
});

test("a value with a line break is refused: it would start a new config key", () => {
  const bad = { ...plan, process: { ...plan.process, env: ["X=1\nlxc.idmap = u 0 0 65536"] } };
  assert.throws(() => lxcConfig(bad), (err: unknown) => err instanceof StrataError && err.code === "INVALID_CONFIG" && /environment variable X/.test(err.message));
});
