import { createConnection, type Socket } from "node:net";
import { StrataError } from "../../../errors.js";

/**
 * Firecracker has no virtio-serial: the host<->guest channels are vsock ports (docs/vsock.md, "hybrid
 * vsock"), on which the guest init listens when the kernel command line carries VSOCK_KERNEL_ARG
 * (src/sandbox/guest/init/vsock.go). The host reaches each by a host-initiated connection through the
 * vsock device's unix socket (connectVsock): log (guest -> host: the lines QEMU appends to guest.log; the
 * guest holds them while no host reader is connected), ctl (host -> guest messages) and exec (`strata exec`).
 * All three are host-initiated, so the host keeps no listening socket that would have to outlive the daemon.
 */
export const VSOCK_KERNEL_ARG = "strata.channels=vsock";
/** Shared with vsock.go. */
export const VSOCK_PORTS = { log: 1024, ctl: 1025, exec: 1026 } as const;
/** The vsock device's host socket, relative to Firecracker's working directory (the instance's): a snapshot keeps it, so it must not name one instance's directory. */
export const VSOCK_UDS = "v.sock";
/** The guest's context id: any >= 3; each VM has its own device, so every guest may use the same one. */
export const GUEST_CID = 3;

/**
 * A host-initiated connection to a guest port: connect to the vsock device's unix socket, send
 * `CONNECT <port>\n`, read `OK <host port>\n`; Firecracker closes the connection when nothing listens.
 * Returns the socket, paused (pipe it, or resume() once a reader is attached), which from then on carries
 * the guest's stream: bytes that came with the OK are put back in front of it.
 */
export function connectVsock(udsPath: string, port: number, timeoutMs = 5000): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const sock = createConnection(udsPath);
    let reply = "";
    const fail = (why: string) => {
      sock.destroy();
      reject(new StrataError("INSTANCE_FAILED", `vsock port ${port} through ${udsPath}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
    const onData = (chunk: Buffer) => {
      reply += chunk.toString("latin1");
      const nl = reply.indexOf("\n");
      if (nl < 0) return reply.length > 64 ? fail(`unexpected answer ${JSON.stringify(reply)}`) : undefined;
      clearTimeout(timer);
      sock.pause();
      sock.off("data", onData).off("close", onClose).off("error", onError);
      if (!/^OK \d+$/.test(reply.slice(0, nl))) return fail(`unexpected answer ${JSON.stringify(reply.slice(0, nl))}`);
      const rest = reply.slice(nl + 1);
      if (rest) sock.unshift(Buffer.from(rest, "latin1")); // the guest's first bytes, already read
      resolve(sock);
    };
    const onClose = () => { clearTimeout(timer); fail("closed before OK (nothing listens on that port in the guest)"); };
    const onError = (err: Error) => { clearTimeout(timer); fail(err.message); };
    sock.on("data", onData).once("close", onClose).once("error", onError);
    sock.once("connect", () => sock.write(`CONNECT ${port}\n`));
  });
}
