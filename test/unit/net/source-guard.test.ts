import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork, macForAddress, type Attachment } from "../../../src/net/index.js";
import { plumbGuestNet } from "../../../src/sandbox/guest/index.js";
import { exec } from "../../../src/system/exec.js";

// A bridge and subnet of its own, so this test never touches a running daemon's bridge.
const BRIDGE = "stratat9";
const SUBNET = "10.232.19.0/24";
const ids = ["guard-vm", "guard-ct"];

/**
 * Raw frames, as a guest or a container with CAP_NET_RAW writes them. Python's standard library opens a
 * tap by name (the TUNSETIFF ioctl, which Node cannot make) and AF_PACKET sockets. Modes:
 * - `tap NAME` / `packet IFACE`: writes the hex frames read from stdin, one a line, as the guest on the
 *   tap (run inside the instance's namespace), or out of the interface;
 * - `capture IFACE SECONDS`: prints `ready`, then what the host receives on IFACE until its stdin closes (at
 *   most SECONDS): each frame carrying a marker (`marker <text>`), and each ARP packet (`arp <sender ip> <sender mac>`).
 */
const FRAMES_PY = `
import fcntl, os, select, socket, struct, sys, time
mode = sys.argv[1]
if mode == "capture":
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((sys.argv[2], 0))
    print("ready", flush=True)
    end = time.time() + float(sys.argv[3])
    while time.time() < end:
        ready = select.select([s, sys.stdin], [], [], 0.1)[0]
        if sys.stdin in ready and not sys.stdin.buffer.read1(1):
            break
        if s not in ready:
            continue
        frame, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        if frame[12:14] == b"\\x08\\x06":
            print("arp", socket.inet_ntoa(frame[28:32]), frame[22:28].hex(":"), flush=True)
        i = frame.find(b"sg-")
        if i >= 0:
            print("marker", frame[i:].split(b"\\0")[0].decode(), flush=True)
    sys.exit(0)
frames = [bytes.fromhex(l) for l in sys.stdin.read().split()]
if mode == "tap":
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", sys.argv[2].encode(), 0x0002 | 0x1000))  # TUNSETIFF, IFF_TAP | IFF_NO_PI
    for f in frames:
        os.write(fd, f)
    time.sleep(0.3)
    os.close(fd)
else:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((sys.argv[2], 0))
    for f in frames:
        s.send(f)
`;

const macBytes = (mac: string) => Buffer.from(mac.replaceAll(":", ""), "hex");
const ipBytes = (ip: string) => Buffer.from(ip.split(".").map(Number));

function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An Ethernet frame with an IPv4 UDP datagram (to the discard port) carrying `marker`. */
function udpFrame(dstMac: string, srcMac: string, src: string, dst: string, marker: string): Buffer {
  const payload = Buffer.from(marker + "\0");
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(9, 2);
  udp.writeUInt16BE(8 + payload.length, 4); // checksum 0: none, which IPv4 allows
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + udp.length + payload.length, 2);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  ipBytes(src).copy(ip, 12);
  ipBytes(dst).copy(ip, 16);
  ip.writeUInt16BE(ipv4Checksum(ip), 10);
  return Buffer.concat([macBytes(dstMac), macBytes(srcMac), Buffer.from([0x08, 0x00]), ip, udp, payload]);
}

/** A broadcast ARP request: who has `target`, tell `senderIp` at `senderMac`. */
function arpRequest(senderMac: string, senderIp: string, target: string): Buffer {
  const arp = Buffer.concat([Buffer.from([0, 1, 8, 0, 6, 4, 0, 1]), macBytes(senderMac), ipBytes(senderIp), Buffer.alloc(6), ipBytes(target)]);
  return Buffer.concat([Buffer.alloc(6, 0xff), macBytes(senderMac), Buffer.from([0x08, 0x06]), arp]);
}

/** An IPv6 UDP datagram to all nodes (ff02::1) from a link-local address, carrying `marker`. */
function ipv6Frame(srcMac: string, marker: string): Buffer {
  const payload = Buffer.from(marker + "\0");
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(9, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const ip6 = Buffer.alloc(40);
  ip6.writeUInt32BE(0x60000000, 0);
  ip6.writeUInt16BE(udp.length + payload.length, 4);
  ip6.writeUInt8(17, 6);
  ip6.writeUInt8(64, 7);
  Buffer.from("fe800000000000000000000000000001", "hex").copy(ip6, 8);
  Buffer.from("ff020000000000000000000000000001", "hex").copy(ip6, 24);
  return Buffer.concat([Buffer.from("333300000001", "hex"), macBytes(srcMac), Buffer.from([0x86, 0xdd]), ip6, udp, payload]);
}

describe("the source-address guard on every instance's bridge port", () => {
  let root: string;
  let net: HostNetwork;
  let vm: Attachment;
  let ct: Attachment;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "strata-guard-"));
    net = new HostNetwork(new StrataHome(root), { bridge: BRIDGE, subnet: SUBNET, spares: 0 });
    vm = await net.attach(ids[0]!);
    ct = await net.attach(ids[1]!);
    // The first instance as a VM-class driver sets it up: its address leaves eth0 for a guest on tap0.
    await plumbGuestNet(vm);
  });

  after(async () => {
    for (const id of ids) await net.detach(id);
    await net.teardown();
    await rm(root, { recursive: true, force: true });
  });

  /** Sends `frames` the way `how` says while capturing on the bridge; returns what the host received. */
  async function sendAndCapture(how: { netnsPath: string; mode: "tap" | "packet"; dev: string }, frames: Buffer[]): Promise<string[]> {
    const capture = spawn("python3", ["-c", FRAMES_PY, "capture", BRIDGE, "30"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    capture.stdout.on("data", (c: Buffer) => (out += c.toString()));
    capture.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => capture.once("close", resolve));
    try {
      for (let i = 0; i < 100 && !out.startsWith("ready"); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(out.startsWith("ready"), `the capture did not start: ${err}`);
      await exec(["nsenter", `--net=${how.netnsPath}`, "python3", "-c", FRAMES_PY, how.mode, how.dev], {
        input: frames.map((f) => f.toString("hex")).join("\n") + "\n",
        timeoutMs: 10_000,
      });
      await new Promise((r) => setTimeout(r, 300)); // what was sent has crossed the bridge
      capture.stdin.end();
      assert.equal(await exited, 0, err);
    } finally {
      capture.kill("SIGKILL");
    }
    return out.split("\n").slice(1).filter(Boolean);
  }

  it("a VM guest on its tap is heard with its own address and MAC, and not with another tenant's or the host's address, another MAC or IPv6", async () => {
    const bridgeMac = (await readFile(`/sys/class/net/${BRIDGE}/address`, "utf8")).trim();
    const own = macForAddress(vm.address);
    const got = await sendAndCapture({ netnsPath: vm.netnsPath, mode: "tap", dev: "tap0" }, [
      udpFrame(bridgeMac, own, vm.address, net.gateway, "sg-vm-own"),
      udpFrame(bridgeMac, own, ct.address, net.gateway, "sg-vm-as-tenant"),
      udpFrame(bridgeMac, own, net.gateway, net.gateway, "sg-vm-as-host"),
      udpFrame(bridgeMac, "02:66:00:00:00:01", vm.address, net.gateway, "sg-vm-other-mac"),
      ipv6Frame(own, "sg-vm-ipv6"),
      arpRequest(own, vm.address, net.gateway),
      arpRequest(own, ct.address, net.gateway),
    ]);
    assert.ok(got.includes("marker sg-vm-own"), `the guest's own datagram passes: ${got.join(" | ")}`);
    assert.ok(got.includes(`arp ${vm.address} ${own}`), `the guest's own ARP request passes: ${got.join(" | ")}`);
    assert.deepEqual(got.filter((l) => l !== "marker sg-vm-own" && l !== `arp ${vm.address} ${own}`), [], "nothing else reaches the host");
  });

  it("a container that changes its address or MAC (CAP_NET_ADMIN/NET_RAW in a namespace it owns, as LXD's do) is not heard either", async () => {
    const bridgeMac = (await readFile(`/sys/class/net/${BRIDGE}/address`, "utf8")).trim();
    const own = macForAddress(ct.address);
    const shown = JSON.parse((await exec(["nsenter", `--net=${ct.netnsPath}`, "ip", "-j", "link", "show", "dev", "eth0"])).stdout) as Array<{ address: string }>;
    assert.equal(shown[0]?.address, own, "eth0 carries the MAC the guard allows");
    const got = await sendAndCapture({ netnsPath: ct.netnsPath, mode: "packet", dev: "eth0" }, [
      udpFrame(bridgeMac, own, ct.address, net.gateway, "sg-ct-own"),
      udpFrame(bridgeMac, own, vm.address, net.gateway, "sg-ct-as-tenant"),
      udpFrame(bridgeMac, macForAddress(vm.address), vm.address, net.gateway, "sg-ct-as-tenant-mac"),
      ipv6Frame(own, "sg-ct-ipv6"),
      arpRequest(own, ct.address, net.gateway),
      arpRequest(own, vm.address, net.gateway),
    ]);
    assert.ok(got.includes("marker sg-ct-own"), got.join(" | "));
    assert.ok(got.includes(`arp ${ct.address} ${own}`), got.join(" | "));
    assert.deepEqual(got.filter((l) => l !== "marker sg-ct-own" && l !== `arp ${ct.address} ${own}`), [], "nothing else reaches the host");
  });

  it("a port's element goes with its instance", async () => {
    const listed = await exec(["nft", "list", "set", "bridge", `${BRIDGE}_guard`, "ports"]);
    for (const a of [vm, ct]) assert.match(listed.stdout, new RegExp(`${macForAddress(a.address)} \\. ${a.address.replaceAll(".", "\\.")}`));
    await net.detach(ids[1]!);
    const after1 = await exec(["nft", "list", "set", "bridge", `${BRIDGE}_guard`, "ports"]);
    assert.doesNotMatch(after1.stdout, new RegExp(ct.address.replaceAll(".", "\\.")));
    assert.match(after1.stdout, new RegExp(vm.address.replaceAll(".", "\\.")));
  });
});
