import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, mkdir, readFile, rm, writeFile, access } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork, IpAllocator, ipToInt, macForAddress, parseSubnet } from "../../../src/net/index.js";
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

    const nsName = a.netnsPath.slice("/run/netns/".length);
    const offset = (ipToInt(a.address) - net.subnet.network).toString(16);
    assert.equal(nsName, `strata-${new StrataHome(root).tag}-${offset}`);
    const alias = await exec(["ip", "-j", "link", "show", "dev", `sv-${new StrataHome(root).tag}${offset}`]);
    assert.equal((JSON.parse(alias.stdout) as Array<{ ifalias?: string }>)[0]?.ifalias, ids[0]);
    const routes = await exec(["ip", "-n", nsName, "route", "show"]);
    assert.match(routes.stdout, new RegExp(`default via ${net.gateway.replaceAll(".", "\\.")} dev eth0`));
    const ruleset = await exec(["nft", "list", "table", "inet", BRIDGE]);
    assert.match(ruleset.stdout, /oifname "stratat0" drop/, "nothing is forwarded out of the bridge");
  });

  it("keeps the bridge's own MAC while ports come and go, so the gateway MAC instances cached stays right", async () => {
    const expected = macForAddress(net.gateway);
    const bridgeMac = async () => (await readFile(`/sys/class/net/${BRIDGE}/address`, "utf8")).trim();
    assert.equal(await bridgeMac(), expected);
    // A port with a lower MAC than the bridge's would become the bridge's MAC if the kernel chose it.
    await exec(["ip", "link", "add", "stratat0low", "address", "02:00:00:00:00:01", "type", "veth", "peer", "name", "stratat0lowp"]);
    try {
      await exec(["ip", "link", "set", "stratat0low", "master", BRIDGE, "up"]);
      assert.equal(await bridgeMac(), expected, "a lower MAC joining does not move the bridge's");
    } finally {
      await exec(["ip", "link", "delete", "stratat0low"]);
    }
    assert.equal(await bridgeMac(), expected, "nor does it leaving");
    const a = await net.attach(ids[0]!);
    await canConnect(a.netnsPath, net.gateway, 9); // any packet to the gateway: the namespace resolves its MAC
    const neigh = await exec(["nsenter", `--net=${a.netnsPath}`, "ip", "-j", "neigh", "show", net.gateway]);
    assert.equal((JSON.parse(neigh.stdout) as Array<{ lladdr?: string }>)[0]?.lladdr, expected);
    // A bridge an older Strata made (its MAC the kernel's choice) gets the fixed one at the next start-up.
    await exec(["ip", "link", "set", BRIDGE, "address", "02:00:00:00:00:09"]);
    await net.ensure();
    assert.equal(await bridgeMac(), expected);
  });

  it("keeps leases across a restart and sweeps what is not kept", async () => {
    const restarted = new HostNetwork(new StrataHome(root), { bridge: BRIDGE, subnet: SUBNET, spares: 0 });
    const a = await restarted.attach(ids[0]!);
    const b = await net.attach(ids[1]!);
    assert.equal(a.address, (await net.attach(ids[0]!)).address);
    await restarted.sweep(new Set([ids[0]!]));
    assert.deepEqual(await restarted.attachedIds(), [ids[0]]);
    await assert.rejects(access(b.netnsPath));
    const veths = await exec(["ip", "-j", "link", "show", "type", "veth"]);
    assert.ok(!(JSON.parse(veths.stdout) as Array<{ ifalias?: string }>).some((l) => l.ifalias === ids[1]), "b's veth is gone");
    await restarted.detach(ids[0]!);
    await restarted.detach(ids[0]!); // idempotent
    assert.deepEqual(await restarted.attachedIds(), []);
  });

  it("hands a namespace made ahead to the next instance, and a new daemon sweeps the spares an old one left", async () => {
    const home = new StrataHome(join(root, "spares"));
    const subnet = "10.232.8.0/24";
    const leases = () => new IpAllocator(home.runtime("net"), parseSubnet(subnet)).leases();
    /** The address of `network`'s ready spare (bounded wait: spares are made in the background). */
    const spareAddress = async (network: HostNetwork): Promise<string> => {
      for (let i = 0; i < 100; i++) {
        const spare = Object.entries(await leases()).find(([key]) => key.startsWith("sp."));
        if (spare && network.readySpares === 1) return spare[1];
        await sleep(100);
      }
      throw new Error("no spare was made within 10 s");
    };
    const owned = async () => {
      const ns = (await exec(["ip", "netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(`strata-${home.tag}-`));
      const veths = (JSON.parse((await exec(["ip", "-j", "link", "show", "type", "veth"])).stdout || "[]") as Array<{ ifname: string }>)
        .filter((l) => l.ifname.startsWith(`sv-${home.tag}`));
      return { ns: ns.length, veths: veths.length };
    };
    const old = new HostNetwork(home, { bridge: BRIDGE, subnet, spares: 1 });
    await old.attach("spare-x"); // made on demand; a spare follows in the background
    const made = await spareAddress(old);
    const y = await old.attach("spare-y");
    assert.equal(y.address, made, "the spare's address, namespace and veth went to spare-y");
    assert.equal((await leases())["spare-y"], made);
    const offset = (ipToInt(made) - old.subnet.network).toString(16);
    assert.equal(y.netnsPath, `/run/netns/strata-${home.tag}-${offset}`);
    const veth = JSON.parse((await exec(["ip", "-j", "link", "show", "dev", `sv-${home.tag}${offset}`])).stdout) as Array<{ ifalias?: string; master?: string }>;
    assert.equal(veth[0]?.ifalias, "spare-y", "the veth is labelled with its instance");
    assert.equal(veth[0]?.master, BRIDGE);
    const inside = await exec(["ip", "-n", `strata-${home.tag}-${offset}`, "-o", "-4", "addr", "show", "dev", "eth0"]);
    assert.match(inside.stdout, new RegExp(` ${made.replaceAll(".", "\\.")}/24 `));
    await old.detach("spare-x");
    await spareAddress(old); // the pool made the next one

    // The old daemon is gone without a teardown: a new one keeps spare-y and removes the old spare.
    const next = new HostNetwork(home, { bridge: BRIDGE, subnet, spares: 0 });
    await next.sweep(new Set(["spare-y"]));
    assert.deepEqual(Object.keys(await leases()), ["spare-y"]);
    assert.deepEqual(await owned(), { ns: 1, veths: 1 });
    await next.detach("spare-y");
    await old.removeSpares(); // what the old daemon's shutdown would have done; it holds none now
    assert.deepEqual(await owned(), { ns: 0, veths: 0 }, "nothing of this home is left");
  });
});
