import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { VM_FILES } from "../backend.js";
import { connectVsock, VSOCK_PORTS, VSOCK_UDS } from "./vsock.js";

const RETRY_MS = 200;

/**
 * The host end of a Firecracker guest's channels, held by the daemon (the guest holds its log lines while
 * no host reads them, so nothing here has to outlive the daemon: adopt() makes a new one after a restart).
 * It gives the driver what QEMU gives it: guest.log, appended with what the guest's log port sends, and
 * the ctl.sock and exec.sock unix sockets, each connection carried to the guest's port through vsock.
 */
export class VsockBridge {
  private readonly abort = new AbortController();
  private readonly sockets = new Set<Socket>();
  private pumping: Promise<void> = Promise.resolve();

  private constructor(private readonly dir: string, private readonly alive: () => boolean, private readonly servers: Server[]) {}

  /** `alive`: the VMM still runs; when it has gone, the bridge closes itself and calls `onClosed`. */
  static async open(dir: string, alive: () => boolean, onClosed: () => void): Promise<VsockBridge> {
    const servers: Server[] = [];
    const bridge = new VsockBridge(dir, alive, servers);
    try {
      for (const [file, port] of [[VM_FILES.guestControl, VSOCK_PORTS.ctl], [VM_FILES.guestExec, VSOCK_PORTS.exec]] as const) {
        const path = join(dir, file);
        await rm(path, { force: true });
        const server = createServer((client) => bridge.carry(client, port));
        await new Promise<void>((resolve, reject) => server.once("error", reject).listen(path, resolve));
        servers.push(server);
      }
    } catch (err) {
      await bridge.close();
      throw err;
    }
    bridge.pumping = bridge.pumpLog().finally(() => void bridge.close().then(onClosed));
    return bridge;
  }

  async close(): Promise<void> {
    this.abort.abort();
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.servers.length = 0;
  }

  /** Waits until the log pump has ended (after close(), or once the VMM is gone). */
  ended(): Promise<void> {
    return this.pumping;
  }

  private track(s: Socket): Socket {
    this.sockets.add(s);
    s.once("close", () => this.sockets.delete(s));
    return s;
  }

  /** One host connection to ctl.sock or exec.sock, joined to a new vsock connection to the guest's port. */
  private carry(client: Socket, port: number): void {
    this.track(client).on("error", () => client.destroy()); // the peer went: its guest side is closed below
    connectVsock(join(this.dir, VSOCK_UDS), port).then((guest) => {
      this.track(guest).on("error", () => guest.destroy());
      client.once("close", () => guest.destroy());
      guest.once("close", () => client.destroy());
      client.pipe(guest);
      guest.pipe(client);
    }, () => client.destroy()); // nothing listens (yet): the caller sees the connection close, as with QEMU's port
  }

  /**
   * Reads the guest's log port into guest.log while the VMM runs; reconnects when the connection ends (a
   * guest that has not yet started listening refuses it; a restored guest's connections were reset).
   */
  private async pumpLog(): Promise<void> {
    const signal = this.abort.signal;
    const out = createWriteStream(join(this.dir, VM_FILES.log), { flags: "a" });
    try {
      while (!signal.aborted && this.alive()) {
        const guest = await connectVsock(join(this.dir, VSOCK_UDS), VSOCK_PORTS.log).catch(() => undefined); // not yet: retried below
        if (guest) {
          this.track(guest);
          await new Promise<void>((resolve) => {
            guest.on("data", (chunk: Buffer) => out.write(chunk)).once("close", () => resolve()).on("error", () => guest.destroy());
            guest.resume();
          });
        }
        await sleep(RETRY_MS, undefined, { signal }).catch(() => undefined); // aborted: the loop ends
      }
    } finally {
      await new Promise<void>((resolve) => out.end(resolve));
    }
  }
}
