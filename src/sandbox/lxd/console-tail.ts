import type { EndedState, InstanceIO } from "../driver.js";
import { isNotFound, type LxdClient } from "./client.js";

const POLL_MS = 500;

/**
 * Follows a container's console log (GET /1.0/instances/{name}/console: what init and the services write
 * to /dev/console) into InstanceIO.log, line by line, and notices the container stopping on its own. The
 * console is one stream, so every line is logged as stdout.
 */
export class ConsoleTail {
  private timer: NodeJS.Timeout | undefined;
  private partial = "";
  private stopped = false;

  constructor(
    private readonly client: LxdClient,
    private readonly name: string,
    private offset: number,
    private readonly io: InstanceIO,
    private readonly ended: (state: EndedState) => void,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    try {
      const text = await this.client.text(`/1.0/instances/${this.name}/console`);
      if (text.length < this.offset) this.offset = 0; // the log started over (a restart)
      this.emit(text.slice(this.offset));
      this.offset = text.length;
      const state = await this.client.get<{ status: string }>(`/1.0/instances/${this.name}/state`);
      if (state.status === "Stopped" && !this.stopped) {
        this.stop();
        this.ended({ status: "exited", code: -1, reason: "exited" });
        return;
      }
    } catch (err) {
      if (isNotFound(err) && !this.stopped) {
        this.stop();
        this.ended({ status: "gone" });
        return;
      }
      // LXD busy or restarting: the next poll tries again.
    }
    this.schedule();
  }

  private emit(chunk: string): void {
    const lines = (this.partial + chunk.replace(/\r/g, "")).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) if (!this.stopped) this.io.log("stdout", line);
  }
}
