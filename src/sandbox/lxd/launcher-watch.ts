import { join } from "node:path";
import type { EndedState, InstanceIO } from "../driver.js";
import { watchExit } from "../oci/exit-watch.js";
import { LogTail } from "../oci/log-tail.js";

/** Each output file is emptied once read past this size (as the lxc driver and conmon cap theirs). */
const LOG_SIZE_MAX = 16 << 20;
/** How often LXD is asked whether the instance still runs: only for an end the launcher could not record. */
const STATE_POLL_MS = 1000;

/**
 * Follows an app instance run by the launcher (launcher.ts): its stdout and stderr files into
 * InstanceIO.log as two streams (offsets kept beside them, so a recovering daemon goes on where the last
 * one stopped), and its end: the launcher's `exit` file (inotify), or LXD saying the instance stopped or is
 * gone without one (a SIGKILL to the launcher). `ended` is asked for the state once the last lines are
 * logged and hands it on; it is called at most once.
 */
export class LauncherWatch {
  private readonly tails: LogTail[];
  private stopExitWatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;

  constructor(
    private readonly ioDir: string,
    offsetDir: string,
    private readonly io: InstanceIO,
    /** true while LXD says the instance runs (false: stopped or gone). */
    private readonly running: () => Promise<boolean>,
    private readonly ended: () => Promise<EndedState | null>,
  ) {
    this.tails = (["stdout", "stderr"] as const).map((s) => new LogTail(join(ioDir, s), join(offsetDir, `${s}.offset`), io, s, LOG_SIZE_MAX));
  }

  async start(): Promise<void> {
    for (const tail of this.tails) await tail.start();
    this.stopExitWatch = watchExit(this.ioDir, () => void this.settle());
    this.schedule();
  }

  /** Stops following (the last lines are read first); no end is reported after this. */
  async stop(): Promise<void> {
    this.settled = true;
    this.halt();
    for (const tail of this.tails) await tail.stop();
  }

  private halt(): void {
    this.stopExitWatch?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running().then(
        (up) => (up ? this.schedule() : void this.settle()),
        () => this.schedule(), // LXD busy or restarting: asked again
      );
    }, STATE_POLL_MS);
    this.timer.unref();
  }

  private async settle(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    this.halt();
    // The last lines reach the log before the end is told.
    for (const tail of this.tails) await tail.stop().catch((err: unknown) => this.io.log("stderr", `[strata] log capture stopped: ${(err as Error).message}`));
    const state = await this.ended().catch(() => null); // unreadable now: the scheduler's health check finds it
    if (state) this.io.exited?.(state);
  }
}
