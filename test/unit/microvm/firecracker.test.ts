import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createConnection, createServer as createNetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Ajv, type ValidateFunction } from "ajv";
import { parse } from "yaml";
import { VM_FILES, type VmSpec } from "../../../src/sandbox/microvm/backend.js";
import { FirecrackerApi } from "../../../src/sandbox/microvm/firecracker/api.js";
import { configure, FirecrackerBackend, restore } from "../../../src/sandbox/microvm/firecracker/backend.js";
import { VsockBridge } from "../../../src/sandbox/microvm/firecracker/channels.js";
import { connectVsock, VSOCK_PORTS, VSOCK_UDS } from "../../../src/sandbox/microvm/firecracker/vsock.js";
import { firecrackerMissing } from "../../../src/sandbox/microvm/probe.js";
import { QemuBackend } from "../../../src/sandbox/microvm/qemu.js";
import { ChosenBackend } from "../../../src/sandbox/microvm/select.js";

/**
 * Firecracker needs KVM, so it cannot run here: its API is played by a server that takes each request as
 * Firecracker's published OpenAPI (Swagger 2.0) description says (test/fixtures/firecracker/, v1.16.1),
 * validates the body with Ajv against the operation's schema and answers as the description says.
 */
const SPEC_FILE = fileURLToPath(new URL("../../fixtures/firecracker/firecracker.yaml", import.meta.url));

interface Operation { parameters?: Array<{ in: string; name: string; schema?: object; required?: boolean }>; responses: Record<string, unknown> }
interface Spec { paths: Record<string, Record<string, Operation>>; definitions: Record<string, object> }
interface Seen { method: string; path: string; body: Record<string, unknown> }

/** Firecracker's request structs are serde `deny_unknown_fields`: an object schema takes only its own properties. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (!schema || typeof schema !== "object") return schema;
  const out: Record<string, unknown> = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === "properties" ? Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, closed(s)])) : closed(v)]));
  if (out.type === "object" && out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

class SpecServer {
  readonly seen: Seen[] = [];
  readonly violations: string[] = [];
  /** A request this returns a message for is answered 400 with that fault_message (Firecracker's Error). */
  fault: (s: Seen) => string | undefined = () => undefined;
  /** Runs on each valid request before the answer (e.g. writes the files a snapshot create makes). */
  onRequest: (s: Seen) => Promise<void> = async () => undefined;
  private readonly routes: Array<{ re: RegExp; params: string[]; ops: Record<string, { op: Operation; validate?: ValidateFunction }> }> = [];
  private server: Server | undefined;

  constructor(spec: Spec) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    const definitions = closed(spec.definitions) as Record<string, object>;
    for (const [template, ops] of Object.entries(spec.paths)) {
      const params: string[] = [];
      const re = new RegExp(`^${template.replace(/\{(\w+)\}/g, (_m, p: string) => (params.push(p), "([^/]+)"))}$`);
      const compiled: Record<string, { op: Operation; validate?: ValidateFunction }> = {};
      for (const [method, op] of Object.entries(ops)) {
        const body = op.parameters?.find((p) => p.in === "body");
        compiled[method.toUpperCase()] = { op, ...(body?.schema && { validate: ajv.compile({ ...(closed(body.schema) as object), definitions }) }) };
      }
      this.routes.push({ re, params, ops: compiled });
    }
  }

  listen(path: string): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c)).on("end", () => void this.answer(req.method ?? "", req.url ?? "", Buffer.concat(chunks).toString(), req.headers["content-type"], res));
    });
    return new Promise((resolve) => this.server!.listen(path, resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async answer(method: string, url: string, text: string, type: string | undefined, res: import("node:http").ServerResponse): Promise<void> {
    const reply = (status: number, fault?: string) => {
      if (fault === undefined) return void res.writeHead(status).end();
      res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify({ fault_message: fault }));
    };
    const route = this.routes.find((r) => r.re.test(url));
    const entry = route?.ops[method];
    if (!route || !entry) {
      this.violations.push(`${method} ${url}: no such operation in firecracker.yaml`);
      return reply(400, "Invalid request method and/or path");
    }
    if (type !== "application/json") this.violations.push(`${method} ${url}: Content-Type ${type}`);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.violations.push(`${method} ${url}: body is not JSON: ${text}`);
      return reply(400, "body is not JSON");
    }
    if (entry.validate && !entry.validate(body)) {
      this.violations.push(`${method} ${url}: ${JSON.stringify(body)} does not match the spec: ${JSON.stringify(entry.validate.errors)}`);
      return reply(400, "An error occurred when deserializing the json body of a request");
    }
    // Firecracker requires a path id to equal the body's (drives/{drive_id}, network-interfaces/{iface_id}).
    const ids = route.re.exec(url)!.slice(1);
    route.params.forEach((p, i) => {
      if (body[p] !== decodeURIComponent(ids[i]!)) this.violations.push(`${method} ${url}: path ${p} is not the body's ${String(body[p])}`);
    });
    const seen = { method, path: url, body };
    this.seen.push(seen);
    const fault = this.fault(seen);
    if (fault !== undefined) {
      assert.ok(entry.op.responses["400"], `${method} ${url} documents no 400`);
      return reply(400, fault);
    }
    await this.onRequest(seen);
    const ok = Object.keys(entry.op.responses).find((s) => s.startsWith("2"));
    assert.equal(ok, "204", `${method} ${url}: the spec's success answer`);
    reply(204);
  }
}

let spec: Spec;
let dir: string;
let server: SpecServer;
const made: string[] = [];

before(async () => {
  spec = parse(await readFile(SPEC_FILE, "utf8")) as Spec;
});

async function freshServer(): Promise<FirecrackerApi> {
  await server?.close();
  dir = await mkdtemp(join(tmpdir(), "strata-fc-"));
  made.push(dir);
  server = new SpecServer(spec);
  await server.listen(join(dir, VM_FILES.control));
  return new FirecrackerApi(join(dir, VM_FILES.control), 5000);
}

after(async () => {
  await server?.close();
  for (const d of made) await rm(d, { recursive: true, force: true });
});

const vm = (): VmSpec => ({
  id: "fc-test", dir, memoryMb: 160, vcpus: 1, netnsPath: "/run/netns/none", tap: "tap0", mac: "02:fc:00:00:00:01",
  logFile: join(dir, VM_FILES.log), bootLog: join(dir, VM_FILES.boot),
  kernel: "/var/lib/strata/vmlinux", initramfs: "/var/lib/strata/initramfs.cpio", cmdline: "console=ttyS0 quiet rdinit=/init",
  rootDisk: "/var/cache/strata/root.ext4", runDisk: join(dir, VM_FILES.run),
});

describe("firecracker backend against Firecracker's OpenAPI description", () => {
  it("configures a VM with requests the spec accepts, all before InstanceStart", async () => {
    const api = await freshServer();
    await configure(api, vm());
    await api.action("InstanceStart");
    assert.deepEqual(server.violations, []);
    assert.deepEqual(server.seen.map((s) => `${s.method} ${s.path}`), [
      "PUT /machine-config", "PUT /boot-source", "PUT /drives/root", "PUT /drives/run", "PUT /network-interfaces/eth0", "PUT /vsock", "PUT /actions",
    ]);
    assert.deepEqual(server.seen.at(-1)!.body, { action_type: "InstanceStart" });
    assert.deepEqual(server.seen[0]!.body, { vcpu_count: 1, mem_size_mib: 160 });
    const drives = server.seen.filter((s) => s.path.startsWith("/drives/")).map((s) => s.body);
    assert.ok(drives.every((d) => d.is_read_only === true && d.is_root_device === false), "both disks read-only, no root= added");
    assert.equal(drives[1]!.path_on_host, VM_FILES.run, "the run disk relative to the instance's directory, so a snapshot restores into another");
    assert.equal(server.seen[4]!.body.host_dev_name, "tap0");
    assert.equal(server.seen[1]!.body.boot_args, "console=ttyS0 quiet rdinit=/init reboot=k strata.channels=vsock", "Firecracker's reboot, and the guest's channels on vsock");
  });

  it("the checking server refuses what Firecracker would (out-of-range values, unknown fields)", async () => {
    const api = await freshServer();
    await assert.rejects(api.machineConfig({ vcpu_count: 0, mem_size_mib: 128 }), /PUT \/machine-config failed \(400\)/);
    await assert.rejects(api.vsock({ guest_cid: 3, uds_path: "v.sock", cid: 3 } as never), /PUT \/vsock failed \(400\)/);
    assert.equal(server.violations.length, 2, server.violations.join("\n"));
    assert.match(server.violations[0]!, /minimum/);
    assert.match(server.violations[1]!, /additionalProperties/);
  });

  it("turns Firecracker's fault_message into an error that says what failed", async () => {
    const api = await freshServer();
    server.fault = (s) => (s.path === "/machine-config" ? "The memory size (MiB) is invalid." : undefined);
    await assert.rejects(configure(api, vm()), (err: Error & { code?: string }) => {
      assert.equal(err.code, "INSTANCE_FAILED");
      assert.equal(err.message, "firecracker PUT /machine-config failed (400): The memory size (MiB) is invalid.");
      return true;
    });
    assert.equal(server.seen.length, 1, "nothing is sent after a failed step");
    assert.deepEqual(server.violations, []);
  });

  it("snapshots: pause, a Full snapshot, resume; restores by loading it paused, then resumes", async () => {
    await freshServer();
    const memory = Buffer.alloc(64 * 1024, 7);
    const state = Buffer.from("microvm-state-bytes");
    server.onRequest = async (s) => {
      if (s.path === "/snapshot/create") { // what Firecracker writes: guest memory and the microVM state
        await writeFile(s.body.mem_file_path as string, memory);
        await writeFile(s.body.snapshot_path as string, state);
      }
    };
    const backend = new FirecrackerBackend(async () => false);
    const file = join(dir, "snap.vmstate");
    await backend.snapshot(dir, file, new AbortController().signal);
    assert.deepEqual(server.seen.map((s) => `${s.method} ${s.path}`), ["PATCH /vm", "PUT /snapshot/create", "PATCH /vm"]);
    assert.deepEqual(server.seen.map((s) => s.body.state ?? s.body.snapshot_type), ["Paused", "Full", "Resumed"]);
    const packed = await readFile(file);
    assert.ok(packed.subarray(0, memory.length).equals(memory), "guest memory from offset 0: the file is the restore's mem_backend");

    const target = await mkdtemp(join(tmpdir(), "strata-fc-restore-"));
    try {
      const api = new FirecrackerApi(join(dir, VM_FILES.control), 5000);
      server.seen.length = 0;
      await restore(api, target, file);
      await writeFile(join(dir, VM_FILES.pid), String(process.pid)); // launch() writes the VMM's; this process stands in as alive
      await backend.resume(dir);
      await new Promise<void>((res, rej) => { const c = createConnection(join(dir, VM_FILES.guestControl)).once("connect", () => { c.destroy(); res(); }).once("error", rej); });
      await backend.close(); // resume() opened the guest's channels (ctl.sock answers); close() lets go of them
      assert.deepEqual(server.violations, []);
      assert.deepEqual(server.seen.map((s) => `${s.method} ${s.path}`), ["PUT /snapshot/load", "PATCH /vm"]);
      const load = server.seen[0]!.body;
      assert.deepEqual(load, { snapshot_path: join(target, "restore.vmstate"), mem_backend: { backend_type: "File", backend_path: file }, resume_vm: false });
      assert.ok((await readFile(join(target, "restore.vmstate"))).equals(state), "the state part comes back as it was written");
      assert.deepEqual(server.seen[1]!.body, { state: "Resumed" });
    } finally {
      await rm(target, { recursive: true, force: true });
    }
  });

  it("resumes the guest when the snapshot fails, and says why", async () => {
    await freshServer();
    server.fault = (s) => (s.path === "/snapshot/create" ? "Cannot create snapshot: No space left on device" : undefined);
    const backend = new FirecrackerBackend(async () => false);
    await assert.rejects(backend.snapshot(dir, join(dir, "snap"), new AbortController().signal), /PUT \/snapshot\/create failed \(400\): Cannot create snapshot: No space left on device/);
    assert.deepEqual(server.seen.map((s) => s.body.state ?? s.path), ["Paused", "/snapshot/create", "Resumed"]);
    assert.deepEqual(server.violations, []);
  });

  it("an aborted snapshot sends nothing", async () => {
    await freshServer();
    const abort = new AbortController();
    abort.abort();
    await assert.rejects(new FirecrackerBackend(async () => false).snapshot(dir, join(dir, "snap"), abort.signal), { name: "AbortError" });
    assert.equal(server.seen.length, 0);
  });

  it("a snapshot file without Strata's trailer is refused before Firecracker sees it", async () => {
    const api = await freshServer();
    await writeFile(join(dir, "plain"), Buffer.alloc(4096));
    await assert.rejects(restore(api, dir, join(dir, "plain")), /is not a Firecracker snapshot written by Strata/);
    assert.equal(server.seen.length, 0);
  });
});

describe("firecracker's hybrid vsock (docs/vsock.md)", () => {
  /** The host end of Firecracker's vsock device as documented: `CONNECT <port>\n`, then `OK <host port>\n` or a close. */
  async function vsockDevice(listening: ReadonlySet<number>) {
    const vdir = await mkdtemp(join(tmpdir(), "strata-fc-vsock-"));
    made.push(vdir);
    const path = join(vdir, "v.sock");
    const srv = createNetServer((sock) => {
      let line = "";
      const onData = (c: Buffer) => {
        line += c.toString();
        const m = /^CONNECT (\d+)\n/.exec(line);
        if (!m) return;
        sock.off("data", onData);
        if (!listening.has(Number(m[1]))) return void sock.destroy();
        sock.write(`OK 1073741824\nguest-hello\n`); // the guest may write at once
        sock.on("data", (d) => sock.write(d)); // and then echoes
      };
      sock.on("data", onData);
    });
    await new Promise<void>((r) => srv.listen(path, r));
    return { path, close: () => new Promise<void>((r) => srv.close(() => r())) };
  }

  it("connects to a guest port and carries its stream, including bytes that came with the OK", async () => {
    const dev = await vsockDevice(new Set([VSOCK_PORTS.ctl]));
    try {
      const sock = await connectVsock(dev.path, VSOCK_PORTS.ctl, 2000);
      const got: string[] = [];
      sock.on("data", (d: Buffer) => got.push(d.toString())).resume();
      sock.write("ping\n");
      for (let i = 0; i < 100 && !got.join("").includes("ping"); i++) await new Promise((r) => setTimeout(r, 10));
      sock.destroy();
      assert.equal(got.join(""), "guest-hello\nping\n");
    } finally {
      await dev.close();
    }
  });

  it("says so when nothing listens on the guest port", async () => {
    const dev = await vsockDevice(new Set());
    try {
      await assert.rejects(connectVsock(dev.path, VSOCK_PORTS.exec, 2000), /vsock port 1026 .*closed before OK \(nothing listens on that port in the guest\)/);
    } finally {
      await dev.close();
    }
  });
});

describe("the host end of a Firecracker guest's channels (VsockBridge)", () => {
  /**
   * A vsock device with a guest behind it, as docs/vsock.md describes the host side: the guest's log port
   * sends `lines` to each connection and then closes it (as a snapshot's vsock reset does); its control
   * port answers each line with "ack <line>".
   */
  async function guestBehindVsock(vdir: string, lines: string[][]) {
    const conns: Socket[] = [];
    let logConnections = 0;
    const srv = createNetServer((sock) => {
      conns.push(sock);
      sock.once("data", (c: Buffer) => {
        const port = Number(/^CONNECT (\d+)\n/.exec(c.toString())?.[1]);
        if (port === VSOCK_PORTS.log && logConnections < lines.length) {
          sock.end(`OK 1073741824\n${lines[logConnections++]!.join("")}`);
        } else if (port === VSOCK_PORTS.ctl) {
          sock.write("OK 1073741825\n");
          sock.on("data", (d: Buffer) => sock.write(`ack ${d.toString()}`));
        } else {
          sock.destroy(); // nothing listens on that port
        }
      });
    });
    await new Promise<void>((r) => srv.listen(join(vdir, VSOCK_UDS), r));
    return { close: () => new Promise<void>((r) => { conns.forEach((c) => c.destroy()); srv.close(() => r()); }) };
  }

  async function until(what: string, test: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (await test()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.fail(`not within 3 s: ${what}`);
  }

  it("appends the guest's log port to guest.log across reconnections, and carries ctl.sock to the guest's control port", async () => {
    const vdir = await mkdtemp(join(tmpdir(), "strata-fc-bridge-"));
    made.push(vdir);
    const guest = await guestBehindVsock(vdir, [['{"t":"started"}\n', '{"t":"log","s":"stdout","l":"one"}\n'], ['{"t":"log","s":"stdout","l":"two"}\n']]);
    let closed = false;
    const bridge = await VsockBridge.open(vdir, () => true, () => (closed = true));
    try {
      const log = () => readFile(join(vdir, VM_FILES.log), "utf8").catch(() => "");
      await until("both connections' lines are in guest.log", async () => (await log()).includes('"two"'));
      assert.equal(await log(), '{"t":"started"}\n{"t":"log","s":"stdout","l":"one"}\n{"t":"log","s":"stdout","l":"two"}\n');

      const ctl = createConnection(join(vdir, VM_FILES.guestControl));
      let answer = "";
      ctl.on("data", (d: Buffer) => (answer += d.toString()));
      ctl.write('{"t":"signal","sig":15}\n');
      await until("the guest's answer comes back", async () => answer.includes("\n"));
      assert.equal(answer, 'ack {"t":"signal","sig":15}\n');
      ctl.destroy();

      // exec.sock: nothing listens on the guest's exec port, so the connection just closes (as QEMU's would hang up).
      const exec = createConnection(join(vdir, VM_FILES.guestExec));
      await new Promise<void>((r) => exec.once("close", () => r()).on("error", () => undefined));
    } finally {
      await bridge.close();
      await bridge.ended();
      await guest.close();
    }
    assert.equal(closed, true, "the bridge tells its owner it has closed");
    await assert.rejects(new Promise((res, rej) => createConnection(join(vdir, VM_FILES.guestControl)).once("connect", res).once("error", rej)), "ctl.sock is gone after close()");
  });

  it("closes itself once the VMM is gone", async () => {
    const vdir = await mkdtemp(join(tmpdir(), "strata-fc-bridge-"));
    made.push(vdir);
    let alive = true;
    let closed = false;
    const bridge = await VsockBridge.open(vdir, () => alive, () => (closed = true)); // no v.sock: the pump keeps retrying
    alive = false;
    await bridge.ended();
    await until("onClosed ran", async () => closed);
  });
});

describe("FirecrackerBackend: adopt and kill", () => {
  it("adopt() serves the channels of a running VM again; kill() ends the VMM and lets go of them", async () => {
    const vdir = await mkdtemp(join(tmpdir(), "strata-fc-kill-"));
    made.push(vdir);
    const vmm = spawn("sleep", ["30"], { stdio: "ignore" }); // stands in for a running firecracker: kill() SIGKILLs it
    const exited = new Promise<NodeJS.Signals | null>((r) => vmm.once("exit", (_code, sig) => r(sig)));
    const backend = new FirecrackerBackend(async () => false);
    try {
      await backend.adopt(vdir, vmm.pid!);
      await new Promise<void>((res, rej) => { const c = createConnection(join(vdir, VM_FILES.guestExec)).once("connect", () => { c.destroy(); res(); }).once("error", rej); });
      await backend.kill(vdir, vmm.pid!);
      assert.equal(await exited, "SIGKILL");
      await assert.rejects(new Promise((res, rej) => createConnection(join(vdir, VM_FILES.guestExec)).once("connect", res).once("error", rej)), "exec.sock is gone with the VM");
    } finally {
      vmm.kill("SIGKILL");
      await backend.close();
    }
  });
});

describe("firecracker probe on this host", () => {
  it("names exactly what is missing", async () => {
    const missing = await firecrackerMissing(false);
    const probe = await new FirecrackerBackend(async () => false).probe();
    assert.equal(probe.available, false);
    assert.ok(missing.length > 0, "no host here runs Firecracker: no KVM that runs guests");
    assert.equal(probe.reason, `firecracker needs ${missing.join(" and ")}`);
    assert.match(probe.reason ?? "", /\/dev\/kvm/);
  });

  it("the driver's backend here is QEMU, and it says why not Firecracker", async () => {
    const firecracker = new FirecrackerBackend(async () => false);
    const chosen = new ChosenBackend(firecracker, new QemuBackend(async () => ({ accel: "tcg", why: "no KVM that runs guests" })));
    assert.equal(await chosen.detail(), "qemu-tcg");
    assert.match((await firecracker.probe()).reason ?? "", /^firecracker needs .*\/dev\/kvm/);
  });
});
