import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { InstanceSpec } from "../../../src/sandbox/driver.js";
import { KEPT_CAPABILITIES, runtimeConfig, seccompProfile } from "../../../src/sandbox/oci/index.js";
import { imageProcess, processFor } from "../../../src/sandbox/oci/image-process.js";
import { guestEnvDefaults } from "../../../src/sandbox/guest/index.js";

const spec: InstanceSpec = {
  instanceId: "app-v1-abc",
  app: "app",
  version: "v1",
  port: 8080,
  env: { PORT: "8080", MODE: "spec" },
  limits: { memoryMb: 256, cpuMillis: 500, pids: 100 },
};

describe("OCI bundle", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function layers(): Promise<string[]> {
    const root = await mkdtemp(join(tmpdir(), "strata-bundle-"));
    dirs.push(root);
    const top = join(root, "top");
    const bottom = join(root, "bottom");
    await mkdir(join(top, "etc"), { recursive: true });
    await mkdir(join(bottom, "etc"), { recursive: true });
    await writeFile(join(bottom, "etc", "passwd"), "root:x:0:0::/:/bin/sh\nold:x:5:5::/:/bin/sh\n");
    await writeFile(join(top, "etc", "passwd"), "root:x:0:0::/:/bin/sh\nweb:x:1000:1001::/srv:/bin/sh\n");
    await writeFile(join(top, "etc", "group"), "root:x:0:\nstaff:x:50:\n");
    return [top, bottom];
  }

  it("resolves the image user by name in the topmost /etc/passwd, and numeric users as given", async () => {
    const l = await layers();
    assert.deepEqual(await imageProcess({ User: "web" }, l).then((p) => [p.uid, p.gid]), [1000, 1001]);
    assert.deepEqual(await imageProcess({ User: "web:staff" }, l).then((p) => [p.uid, p.gid]), [1000, 50]);
    assert.deepEqual(await imageProcess({ User: "1000" }, l).then((p) => [p.uid, p.gid]), [1000, 1001]);
    assert.deepEqual(await imageProcess({ User: "42:43" }, l).then((p) => [p.uid, p.gid]), [42, 43]);
    assert.deepEqual(await imageProcess({}, l).then((p) => [p.uid, p.gid]), [0, 0]);
    await assert.rejects(imageProcess({ User: "old" }, l), /not in its \/etc\/passwd/);
  });

  it("runs spec.command as given, else Entrypoint+Cmd, with spec env over image env", async () => {
    const image = await imageProcess({ Entrypoint: ["/bin/app"], Cmd: ["--serve"], Env: ["MODE=image", "KEEP=1"], WorkingDir: "/srv" }, []);
    const p = processFor(image, spec);
    assert.deepEqual(p.args, ["/bin/app", "--serve"]);
    assert.equal(p.cwd, "/srv");
    assert.ok(p.env.includes("MODE=spec") && p.env.includes("KEEP=1") && p.env.includes("PORT=8080"));
    assert.ok(p.env.some((e) => e.startsWith("PATH=")));
    assert.deepEqual(processFor(image, { ...spec, command: ["python", "main.py"] }).args, ["python", "main.py"]);
    assert.throws(() => processFor({ ...image, entrypoint: [] }, spec), /nothing to run/);
  });

  it("puts the sandbox's env defaults under the image's Env and the spec's: a guest on an emulated CPU gets the JVM's C1-only start", async () => {
    const image = await imageProcess({ Entrypoint: ["/bin/app"], Env: ["MODE=image"] }, []);
    const tcg = guestEnvDefaults(true);
    assert.equal(tcg.JAVA_TOOL_OPTIONS, "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC");
    assert.deepEqual(guestEnvDefaults(false), {}, "KVM guests and containers get none");
    assert.ok(processFor(image, spec, tcg).env.includes(`JAVA_TOOL_OPTIONS=${tcg.JAVA_TOOL_OPTIONS}`));
    const fromImage = await imageProcess({ Entrypoint: ["/bin/app"], Env: ["JAVA_TOOL_OPTIONS=-Xmx64m"] }, []);
    assert.ok(processFor(fromImage, spec, tcg).env.includes("JAVA_TOOL_OPTIONS=-Xmx64m"), "the image's own wins");
    const fromApp = { ...spec, env: { ...spec.env, JAVA_TOOL_OPTIONS: "-Xint" } };
    assert.ok(processFor(fromImage, fromApp, tcg).env.includes("JAVA_TOOL_OPTIONS=-Xint"), "the app's wins over both");
    assert.ok(processFor(image, spec, { MODE: "default" }).env.includes("MODE=spec"));
  });

  it("writes a locked-down config.json", () => {
    const config = runtimeConfig({
      instanceId: spec.instanceId,
      rootfs: "/r/rootfs",
      netnsPath: "/run/netns/strata-app-v1-abc",
      hostsFile: "/r/hosts",
      cgroupsPath: "/strata/runc/app-v1-abc",
      idMap: { hostId: 100000, size: 65536 },
      limits: spec.limits,
      process: { args: ["/bin/app"], env: ["PORT=8080"], cwd: "/", uid: 0, gid: 0 },
    }) as any;
    assert.equal(config.hostname, "app-v1-abc");
    assert.deepEqual(config.root, { path: "/r/rootfs", readonly: true });
    assert.equal(config.process.noNewPrivileges, true);
    assert.deepEqual(config.process.capabilities.bounding, [...KEPT_CAPABILITIES]);
    assert.ok(!config.process.capabilities.bounding.includes("CAP_SYS_ADMIN"));
    const ns = config.linux.namespaces.map((n: { type: string }) => n.type).sort();
    assert.deepEqual(ns, ["ipc", "mount", "network", "pid", "user", "uts"]);
    assert.equal(config.linux.namespaces.find((n: { type: string }) => n.type === "network").path, "/run/netns/strata-app-v1-abc");
    assert.deepEqual(config.linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
    assert.equal(config.linux.resources.memory.limit, 256 * 1024 * 1024);
    assert.deepEqual(config.linux.resources.cpu, { shares: 512, quota: 50_000, period: 100_000 });
    assert.equal(config.linux.resources.pids.limit, 100);
    assert.ok(config.mounts.some((m: { destination: string; type: string }) => m.destination === "/tmp" && m.type === "tmpfs"));
    assert.equal(config.linux.cgroupsPath, "/strata/runc/app-v1-abc");
  });

  it("denies the dangerous syscalls in its seccomp profile", () => {
    const profile = seccompProfile();
    assert.equal(profile.defaultAction, "SCMP_ACT_ALLOW");
    const denied = new Set(profile.syscalls.filter((s) => s.action === "SCMP_ACT_ERRNO" && !s.args).flatMap((s) => s.names));
    for (const name of ["mount", "kexec_load", "bpf", "ptrace", "keyctl", "add_key", "unshare", "setns", "reboot", "swapon", "init_module"]) {
      assert.ok(denied.has(name), `${name} is denied`);
    }
    assert.ok(profile.syscalls.some((s) => s.names.includes("clone") && s.args?.[0]?.value === 0x10000000), "clone(CLONE_NEWUSER) is denied");
  });
});
