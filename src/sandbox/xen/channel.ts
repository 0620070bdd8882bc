import { createWriteStream, type WriteStream } from "node:fs";
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

const CONNECT_TRY_MS = 50;

/**
 * The dom0 end of a guest's log channel: with `connection=socket` the channel's backend listens on a unix
 * socket (xl.cfg(5)); this connects to it and appends what the guest writes to the instance's event file,
 * which GuestLogFollower follows as it follows QEMU's chardev file. What the guest writes while no
 * daemon is connected (between a daemon's end and the next one's recover) is not kept by the backend.
 */
export class ChannelPump {
  private constructor(
    private readonly socket: Socket,
    private readonly out: WriteStream,
  ) {}

  /** Connects within `timeoutMs` (the backend binds its socket while xl creates the domain). */
  static async open(socketPath: string, file: string, timeoutMs: number): Promise<ChannelPump> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const socket = await new Promise<Socket | Error>((resolve) => {
        const s = connect(socketPath);
        s.once("connect", () => resolve(s));
        s.once("error", (err) => resolve(err));
      });
      if (!(socket instanceof Error)) {
        const out = createWriteStream(file, { flags: "a" });
        socket.pipe(out);
        return new ChannelPump(socket, out);
      }
      if (Date.now() >= deadline) throw new Error(`the guest's log channel ${socketPath}: ${socket.message}`);
      await sleep(CONNECT_TRY_MS);
    }
  }

  /** Disconnects, once what was received is in the file. */
  async close(): Promise<void> {
    this.socket.unpipe(this.out);
    this.socket.destroy();
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}
