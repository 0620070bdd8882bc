import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, mkdir, rm, writeFile, access } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork, IpAllocator, parseSubnet } from "../../../src/net/index.js";
import { exec } from "../../../src/system/exec.js";

// A bridge and subnet of its own, so this test never touches a running daemon's bridge.
const BRIDGE = "stratat0";
const SUBNET = "10.232.7.0/24";
const ids = ["nett-a", "nett-b", "nett-with-a-rather-long-id"];

function httpStatus(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: "/", timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** busybox nc inside a namespace: true when a TCP connection to host:port succeeds within 2 s. */
async function canConnect(netnsPath: string, host: string, port: number): Promise<boolean> {
  const r = await exec(["nsenter", `--net=${netnsPath}`, "/bin/busybox", "nc", "-w", "2", host, String(port)], {
    okCodes: [0, 1],
    input: "",
    timeoutMs: 10_000,
  });
  return r.code === 0;
}

describe("HostNetwork", () => {
  let root: string;
  let net: HostNetwork;
  const children: ChildProcess[] = [];
  const servers: Server[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "strata-net-"));
    net = new HostNetwork(new StrataHome(root), { bridge: BRIDGE, subnet: SUBNET });
    await net.ensure();
  });

  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    for (const s of servers) s.close();
    for (const id of ids) await net.detach(id);
    await net.teardown();
    await rm(root, { recursive: true, force: true });
  });

  it("allocates addresses round-robin, persists them, and never hands out one in use", async () => {
    const dir = join(root, "alloc");
    const a = new IpAllocator(dir, parseSubnet("10.9.0.0/29")); // .2-.6 usable
    const got = await Promise.all(["i1", "i2", "i3"].map((id) => a.lease(id)));
    assert.deepEqual(got.sort(), ["10.9.0.2", "10.9.0.3", "10.9.0.4"]);
    assert.equal(await a.lease("i2"), got[1]);
    await a.release("i1");
    // a new allocator (a restarted daemon) sees the same leases and continues after the last one
    const b = new IpAllocator(dir, parseSubnet("10.9.0.0/29"));
    assert.equal(await b.lease("i4"), "10.9.0.5");
    assert.equal(await b.lease("i5"), "10.9.0.6");
    assert.equal(await b.lease("i6"), "10.9.0.2"); // wraps to the freed one
    await assert.rejects(b.lease("i7"), /no free address/);
  });

  it("names veths from the instance id within 15 characters", () => {
    assert.equal(net.vethName("nett-a"), "sv-nett-a");
    const long = net.vethName("nett-with-a-rather-long-id");
    assert.ok(long.length <= 15 && long.startsWith("sv-nett-"), long);
  });

  it("attaches instances the router can reach but that reach neither each other nor the host", async () => {
    const [a, b, c] = await Promise.all(ids.map((id) => net.attach(id)));
    assert.ok(a && b && c);
    assert.notEqual(a.address, b.address);
    await access(a.netnsPath);
    const again = await net.attach(ids[0]!);
    assert.deepEqual(again, a, "attach is idempotent");

    const www = join(root, "www");
    await mkdir(www);
    await writeFile(join(www, "index.html"), "hi\n");
    for (const att of [a, b]) {
      // spawn (long-running server, killed in after()); nsenter --net only: `ip netns exec` would remount /sys.
      const child = spawn("nsenter", [`--net=${att.netnsPath}`, "/bin/busybox", "httpd", "-f", "-p", "8080", "-h", www], { stdio: "ignore" });
      children.push(child);
    }
    const hostServer = createServer((s) => s.end("host\n"));
    servers.push(hostServer);
    await new Promise<void>((resolve) => hostServer.listen(0, net.gateway, resolve));
    const hostPort = (hostServer.address() as { port: number }).port;
    const loopServer = createServer((s) => s.end("loop\n"));
    servers.push(loopServer);
    await new Promise<void>((resolve) => loopServer.listen(hostPort, "127.0.0.1", resolve));

    // the router, in the root namespace, reaches each instance
    for (let i = 0; i < 50; i++) {
      if (await httpStatus(a.address, 8080).then((s) => s === 200, () => false)) break;
      await sleep(100);
    }
    assert.equal(await httpStatus(a.address, 8080), 200);
    assert.equal(await httpStatus(b.address, 8080), 200);

    assert.equal(await canConnect(a.netnsPath, a.address, 8080), true, "an instance reaches itself");
    assert.equal(await canConnect(a.netnsPath, b.address, 8080), false, "instance a must not reach instance b");
    assert.equal(await canConnect(b.netnsPath, a.address, 8080), false, "instance b must not reach instance a");
    assert.equal(await canConnect(a.netnsPath, net.gateway, hostPort), false, "the host's ports are closed to instances");
    assert.equal(await canConnect(a.netnsPath, "127.0.0.1", hostPort), false, "127.0.0.1 is the instance's own loopback");

    const routes = await exec(["ip", "-n", net.netnsName(ids[0]!), "route", "show"]);
    assert.match(routes.stdout, new RegExp(`default via ${net.gateway.replaceAll(".", "\\.")} dev eth0`));
    const ruleset = await exec(["nft", "list", "table", "inet", BRIDGE]);
    assert.match(ruleset.stdout, /oifname "stratat0" drop/, "nothing is forwarded out of the bridge");
  });

  it("keeps leases across a restart and sweeps what is not kept", async () => {
    const restarted = new HostNetwork(new StrataHome(root), { bridge: BRIDGE, subnet: SUBNET });
    const a = await restarted.attach(ids[0]!);
    assert.equal(a.address, (await net.attach(ids[0]!)).address);
    await restarted.sweep(new Set([ids[0]!]));
    assert.deepEqual(await restarted.attachedIds(), [ids[0]]);
    await assert.rejects(access(net.netnsPath(ids[1]!)));
    const veths = await exec(["ip", "-j", "link", "show", "type", "veth"]);
    assert.ok(!veths.stdout.includes(net.vethName(ids[1]!)), "b's veth is gone");
    await restarted.detach(ids[0]!);
    await restarted.detach(ids[0]!); // idempotent
    assert.deepEqual(await restarted.attachedIds(), []);
  });
});
