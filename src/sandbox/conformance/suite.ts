import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { after, before, describe, it as nodeIt, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { exec } from "../../system/exec.js";
import type { ImageRef, Instance, InstanceLimits, InstanceSpec, Prepared, SandboxDriver } from "../driver.js";
import { httpGet, leftovers, recordingIO, waitForHttp, waitForLog, waitForState } from "./helpers.js";

export interface ConformanceOptions {
  /** Suite title, e.g. "runc". */
  readonly name: string;
  /** A new driver object each call: recovery tests use a second one, as a restarted daemon would. */
  readonly makeDriver: () => SandboxDriver | Promise<SandboxDriver>;
  /** The conformance image (conformanceImage() for OCI drivers), in the kind the driver runs. */
  readonly image: () => Promise<ImageRef>;
  /** The host's own address on the instance network (the bridge gateway) when the driver has ownNetns. */
  readonly hostAddress?: string;
  readonly limits?: InstanceLimits;
  /** Variables the driver adds under the image's Env and the spec's (a guest on an emulated CPU: guest/emulated-cpu.ts). */
  readonly envDefaults?: () => Promise<Readonly<Record<string, string>>>;
  /**
   * Tests this driver is known to fail today, by test name, each with the open issue's reason: they still
   * run and print their failure, marked TODO (node:test's `todo`), so a gap is visible, not hidden.
   */
  readonly knownGaps?: Readonly<Record<string, string>>;
}

const PORT = 8080;
const DEFAULT_LIMITS: InstanceLimits = { memoryMb: 128, cpuMillis: 1000, pids: 128 };

/**
 * The one suite every sandbox driver passes: lifecycle, environment, exit codes, limits, isolation,
 * recovery and leftovers. Tests branch on capabilities and skip only with probe()'s reason.
 */
export function runConformance(opts: ConformanceOptions): void {
  describe(`sandbox conformance: ${opts.name}`, () => {
    const it = (name: string, fn: (t: TestContext) => Promise<void>) => {
      const gap = opts.knownGaps?.[name];
      return gap ? nodeIt(name, { todo: gap }, fn) : nodeIt(name, fn);
    };
    let driver: SandboxDriver;
    let skipReason: string | undefined;
    let image: ImageRef;
    const preparedBySpec = new Map<string, Prepared>();
    const started = new Map<string, Instance>();
    const run = randomBytes(2).toString("hex");

    const spec = (name: string, over: Partial<InstanceSpec> = {}): InstanceSpec => ({
      instanceId: `cf-${run}-${name}`,
      app: "conformance",
      version: "v1",
      port: PORT,
      env: { PORT: String(PORT), GAE_SERVICE: "conformance", GAE_VERSION: "v1", OVERRIDDEN: "from-spec" },
      limits: opts.limits ?? DEFAULT_LIMITS,
      ...over,
    });

    const start = async (s: InstanceSpec, io = recordingIO()) => {
      let prepared = preparedBySpec.get(s.version);
      if (!prepared) {
        prepared = await driver.prepare(image, s);
        preparedBySpec.set(s.version, prepared);
      }
      const instance = await driver.start(prepared, s, io);
      started.set(instance.id, instance);
      return { instance, io };
    };

    const stop = async (instance: Instance) => {
      await driver.stop(instance, 2000);
      started.delete(instance.id);
    };

    /**
     * Skips with the probe's reason, or with the capability the driver lacks (`capabilityReason`);
     * returns true when the test must not run.
     */
    const skipped = (t: TestContext, capabilityReason?: string): boolean => {
      const reason = skipReason ?? capabilityReason;
      if (reason) t.skip(reason);
      return reason !== undefined;
    };

    before(async () => {
      driver = await opts.makeDriver();
      const probe = await driver.probe();
      if (!probe.available) {
        skipReason = `${driver.name} unavailable: ${probe.reason}`;
        return;
      }
      image = await opts.image();
    });

    after(async () => {
      if (!driver) return;
      for (const instance of started.values()) await driver.stop(instance, 0);
      for (const p of preparedBySpec.values()) await driver.release?.(p);
    });

    it("starts, answers HTTP, reports running, stops, and is gone (stop is idempotent)", async (t) => {
      if (skipped(t)) return;
      const { instance, io } = await start(spec("life"));
      try {
        assert.equal(instance.driver, driver.name);
        assert.equal((await waitForHttp(instance.endpoint)).body, "ok\n");
        const state = await driver.inspect(instance);
        assert.equal(state.status, "running");
        if (state.status === "running" && state.memoryBytes !== undefined) assert.ok(state.memoryBytes > 0, "memory is reported");
        assert.ok(await waitForLog(io, /^starting on 8080$/), `stdout captured; got:\n${io.text()}`);
        assert.ok(io.lines.some((l) => l.stream === "stderr" && l.line === "this goes to stderr"), `stderr captured; got:\n${io.text()}`);
      } finally {
        // Two stops at once (a drain racing an idle scale-down) both succeed.
        await Promise.all([stop(instance), driver.stop(instance, 2000)]);
      }
      assert.deepEqual(await driver.inspect(instance), { status: "gone" });
      await driver.stop(instance, 0);
      assert.deepEqual(await leftovers(instance.id), []);
    });

    it("passes the spec's env over the image's", async (t) => {
      if (skipped(t)) return;
      const { instance } = await start(spec("env"));
      try {
        const env = (await waitForHttp(instance.endpoint, "/cgi-bin/env")).body;
        assert.match(env, /^PORT=8080$/m);
        assert.match(env, /^GAE_SERVICE=conformance$/m);
        assert.match(env, /^OVERRIDDEN=from-spec$/m);
        assert.match(env, /^IMAGE_ONLY=from-image$/m);
        for (const [k, v] of Object.entries((await opts.envDefaults?.()) ?? {})) assert.ok(env.split("\n").includes(`${k}=${v}`), `${k}=${v} in:\n${env}`);
      } finally {
        await stop(instance);
      }
    });

    it("reports the app's exit code", async (t) => {
      // Tenants sharing one engine process are not processes of their own: there is no exit code.
      if (skipped(t, driver?.capabilities.sharedProcess ? "instances share one engine process and have no exit code" : undefined)) return;
      const { instance, io } = await start(spec("exit"));
      try {
        await waitForHttp(instance.endpoint);
        await httpGet(instance.endpoint, "/cgi-bin/exit?3");
        const state = await waitForState(driver, instance, (s) => s.status !== "running");
        assert.deepEqual(state, { status: "exited", code: 3, reason: "exited" });
        assert.ok(await waitForLog(io, /^exiting with 3$/), io.text());
      } finally {
        await stop(instance);
      }
    });

    it("pushes an exit it did not cause to InstanceIO.exited, and none for stop()", async (t) => {
      if (skipped(t, driver?.capabilities.sharedProcess ? "instances share one engine process and have no exit of their own" : undefined)) return;
      const ended = await start(spec("pushed"));
      const stopped = await start(spec("stopped"));
      try {
        await waitForHttp(ended.instance.endpoint);
        await httpGet(ended.instance.endpoint, "/cgi-bin/exit?5");
        for (let i = 0; i < 100 && ended.io.exits.length === 0; i++) await sleep(50);
        assert.deepEqual(ended.io.exits, [{ status: "exited", code: 5, reason: "exited" }]);
        await waitForHttp(stopped.instance.endpoint);
        await stop(stopped.instance);
        await sleep(500);
        assert.deepEqual(stopped.io.exits, [], "stop() is not an exit to report");
      } finally {
        await stop(ended.instance);
        await stop(stopped.instance);
      }
    });

    it("stops a tenant that allocates past its memory limit while the engine and its instance live on", async (t) => {
      if (skipped(t, !driver?.capabilities.sharedProcess ? "one process per instance: covered by the oom-killed test" : driver.capabilities.limits.memory ? undefined : "driver enforces no memory limit")) return;
      const { instance, io } = await start(spec("hog", { limits: { memoryMb: 16, cpuMillis: 1000, pids: 64 } }));
      try {
        await waitForHttp(instance.endpoint);
        const r = await httpGet(instance.endpoint, "/cgi-bin/hog");
        assert.ok(r.status >= 500, `allocating past 16 MiB answered ${r.status}`);
        assert.ok(await waitForLog(io, /memory limit/), io.text());
        assert.equal((await httpGet(instance.endpoint, "/")).status, 200);
      } finally {
        await stop(instance);
      }
    });

    it("kills an app that allocates past its memory limit and says oom-killed", async (t) => {
      if (skipped(t, driver?.capabilities.sharedProcess ? "instances share one engine process: a tenant is reset, not killed" : driver?.capabilities.limits.memory === false ? "driver enforces no memory limit" : undefined)) return;
      const hog = ["/bin/sh", "-c", 'echo allocating; awk \'BEGIN { s = "x"; while (1) s = s s }\''];
      const { instance, io } = await start(spec("oom", { command: hog, limits: { memoryMb: 32, cpuMillis: 1000, pids: 64 } }));
      try {
        const state = await waitForState(driver, instance, (s) => s.status !== "running", 30_000);
        assert.equal(state.status, "exited", `still ${state.status}; logs:\n${io.text()}`);
        assert.equal(state.status === "exited" && state.reason, "oom-killed", `${JSON.stringify(state)}; logs:\n${io.text()}`);
      } finally {
        await stop(instance);
      }
    });

    it("stops a fork bomb at the pids limit and keeps the host responsive", async (t) => {
      if (skipped(t, driver?.capabilities.limits.pids === false ? "driver enforces no pids limit" : undefined)) return;
      const pids = 32;
      const bomb = ["/bin/sh", "-c", 'i=0; while [ $i -lt 500 ]; do sleep 600 & i=$((i+1)); echo "started $i"; done; echo finished'];
      const { instance, io } = await start(spec("pids", { command: bomb, limits: { memoryMb: 128, cpuMillis: 1000, pids } }));
      try {
        await waitForLog(io, /^started \d+$/);
        const state = await waitForState(driver, instance, (s) => s.status !== "running" || io.lines.some((l) => l.line === "finished"), 15_000);
        const count = Math.max(0, ...io.lines.map((l) => Number(/^started (\d+)$/.exec(l.line)?.[1] ?? 0)));
        assert.ok(count > 0 && count < pids, `forks started: ${count}, limit ${pids}`);
        if (state.status === "exited") assert.equal(state.reason, "pids-limit");
        await exec(["true"], { timeoutMs: 5000 }); // the host still forks
      } finally {
        await stop(instance);
      }
    });

    it("isolates instances from each other, from the host, and from host files", async (t) => {
      if (skipped(t)) return;
      const a = (await start(spec("iso-a"))).instance;
      const b = (await start(spec("iso-b"))).instance;
      const servers: Server[] = [];
      try {
        await waitForHttp(a.endpoint);
        await waitForHttp(b.endpoint);
        if (driver.capabilities.ownNetns && "host" in a.endpoint && "host" in b.endpoint) {
          const listen = (host: string, port = 0) =>
            new Promise<number>((resolve, reject) => {
              const s = createServer((c) => c.end("host\n"));
              servers.push(s);
              s.on("error", reject);
              s.listen(port, host, () => resolve((s.address() as { port: number }).port));
            });
          const port = opts.hostAddress ? await listen(opts.hostAddress) : await listen("127.0.0.1");
          if (opts.hostAddress) await listen("127.0.0.1", port);
          const connect = async (target: string) => (await httpGet(a.endpoint, `/cgi-bin/connect?${target}`)).body.trim();
          assert.equal(await connect(`${a.endpoint.host}:${PORT}`), "open", "an instance reaches its own address");
          assert.equal(await connect(`${b.endpoint.host}:${PORT}`), "closed", "an instance must not reach another");
          assert.equal(await connect(`127.0.0.1:${port}`), "closed", "127.0.0.1 inside is not the host's");
          if (opts.hostAddress) assert.equal(await connect(`${opts.hostAddress}:${port}`), "closed", "host ports are closed");
        }
        const shadow = (await httpGet(a.endpoint, "/cgi-bin/shadow")).body;
        assert.notEqual(shadow, await readFile("/etc/shadow", "utf8"), "the instance reads its own /etc/shadow, not the host's");
        const uidMap = (await httpGet(a.endpoint, "/cgi-bin/uidmap")).body.trim().split(/\s+/).map(Number);
        if (driver.capabilities.isolation === "container") {
          assert.equal(uidMap[0], 0);
          assert.notEqual(uidMap[1], 0, `root inside must not be root outside (uid_map ${uidMap.join(" ")})`);
          const status = (await httpGet(a.endpoint, "/cgi-bin/status")).body;
          assert.match(status, /^NoNewPrivs:\s+1$/m, "no-new-privileges is set");
          assert.match(status, /^Seccomp:\s+2$/m, "a seccomp filter is installed");
          const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)?.[1] ?? "0"}`);
          const CAP_SYS_ADMIN = 21n;
          assert.equal((capEff >> CAP_SYS_ADMIN) & 1n, 0n, "CAP_SYS_ADMIN is dropped");
          assert.equal((await httpGet(a.endpoint, "/cgi-bin/unshare")).body.trim(), "refused", "new user namespaces are refused");
        }
      } finally {
        for (const s of servers) s.close();
        await stop(a);
        await stop(b);
      }
    });

    it("runs a command inside a running instance (exec): its output, stderr and exit code", async (t) => {
      if (skipped(t, driver?.capabilities.exec ? undefined : "driver cannot exec")) return;
      const { instance } = await start(spec("exec"));
      try {
        await waitForHttp(instance.endpoint);
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        const io = { stdout: (c: Buffer) => out.push(c), stderr: (c: Buffer) => err.push(c) };
        const code = await driver.exec!(instance, ["/bin/sh", "-c", "cat /www/index.html; echo oops >&2; exit 7"], io);
        assert.equal(code, 7, Buffer.concat(err).toString());
        assert.equal(Buffer.concat(out).toString(), "ok\n");
        assert.equal(Buffer.concat(err).toString(), "oops\n");
        out.length = 0;
        assert.equal(await driver.exec!(instance, ["/bin/sh", "-c", "echo $GAE_SERVICE"], io), 0);
        assert.equal(Buffer.concat(out).toString(), "conformance\n", "the command sees the instance's environment");
        // Against pid 1; where init keeps capabilities the instance's processes lack (LXC's init.lxc under
        // lxc-execute), the kernel hides its links from them, and its first child (the app's side) stands in.
        const sameNs = 'ref=1; readlink /proc/1/ns/net >/dev/null 2>&1 || ref=2; for ns in net user pid mnt; do [ "$(readlink /proc/self/ns/$ns)" = "$(readlink /proc/$ref/ns/$ns)" ] || exit 1; done';
        assert.equal(await driver.exec!(instance, ["/bin/sh", "-c", sameNs], io), 0, "the command runs in the instance's namespaces");
      } finally {
        await stop(instance);
      }
      await assert.rejects(driver.exec!(instance, ["true"], { stdout: () => undefined, stderr: () => undefined }), /not running/);
    });

    it("is re-adopted by a new driver object, and cleared once it has died", async (t) => {
      if (skipped(t, driver?.capabilities.recoverable === false ? "driver does not re-adopt instances" : undefined)) return;
      const { instance } = await start(spec("recover"));
      await waitForHttp(instance.endpoint);
      const restarted = await opts.makeDriver();
      const io = recordingIO();
      const adopted = await restarted.recover(instance.handle, io);
      try {
        assert.ok(adopted, "a running instance is recovered");
        assert.deepEqual(adopted.endpoint, instance.endpoint);
        assert.equal((await waitForHttp(adopted.endpoint)).status, 200);
        await httpGet(adopted.endpoint, "/cgi-bin/exit?0");
        assert.ok(await waitForLog(io, /^exiting with 0$/), `logs keep flowing after recovery:\n${io.text()}`);
        await waitForState(restarted, adopted, (s) => s.status !== "running");
        const again = await (await opts.makeDriver()).recover(instance.handle, recordingIO());
        assert.equal(again, null, "a dead instance is not recovered");
        assert.deepEqual(await leftovers(instance.id), []);
      } finally {
        await restarted.stop(adopted ?? instance, 0);
        started.delete(instance.id);
      }
    });

    it("sweeps instances not in the keep set", async (t) => {
      if (skipped(t)) return;
      const kept = (await start(spec("keep"))).instance;
      const lost = (await start(spec("lost"))).instance;
      try {
        await driver.sweep(new Set([kept.id]));
        assert.deepEqual(await leftovers(lost.id), []);
        assert.equal((await driver.inspect(lost)).status, "gone");
        assert.equal((await waitForHttp(kept.endpoint)).status, 200);
      } finally {
        await stop(kept);
        await stop(lost);
      }
    });
  });
}
