import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../errors.js";
import { QmpClient } from "./qmp.js";

const MIGRATE_WAIT_MS = 60_000;
/** query-migrate is a local round trip of well under 1 ms; a restore waits on this poll before its guest runs. */
const MIGRATE_POLL_MS = 5;
/** A migration bandwidth cap no local disk reaches (bytes/s). */
const UNCAPPED_BYTES_PER_S = 64 * 1024 ** 3;
/** The fd a restoring QEMU reads its snapshot from: the first one passed after stdio. */
export const INCOMING_FD = 3;

/** QEMU's arguments for a restore: read the snapshot from INCOMING_FD and stay paused (-S) until resumeIncoming(). */
export const INCOMING_ARGS = ["-S", "-incoming", `fd:${INCOMING_FD}`] as const;

/**
 * Snapshots a running QEMU guest over its QMP socket `qmpSocket` (docs/devel/migration: stop, migrate,
 * cont): pauses it, writes its memory and device state to `file`, and lets it run on. QEMU 7.2 has no
 * file: migration URI, so it migrates into `outgoingSocket`, a unix socket of ours that writes the file.
 * `signal` cancels it: every socket and server it opened is closed before it settles, and the guest runs.
 */
export async function snapshotToFile(qmpSocket: string, outgoingSocket: string, file: string, signal: AbortSignal): Promise<void> {
  const qmp = await QmpClient.connect(qmpSocket);
  const receiver = await FileReceiver.listen(outgoingSocket, file).catch((err: unknown) => {
    qmp.close();
    throw err;
  });
  try {
    // QEMU's default cap (32 MiB/s, meant for live migration over a network) made the guest's pause
    // about 2 s for its ~70 MiB; into a local file it need not be capped.
    await qmp.execute("migrate-set-parameters", { "max-bandwidth": UNCAPPED_BYTES_PER_S });
    await qmp.execute("stop", {});
    await qmp.execute("migrate", { uri: `unix:${outgoingSocket}` });
    await waitMigration(qmp, "completed", signal);
    await receiver.done(signal);
    await qmp.execute("cont", {}); // the source guest runs on
  } catch (err) {
    // A VMM still running must not stay paused or keep migrating into a socket nobody reads.
    await qmp.execute("migrate_cancel", {}).catch(() => undefined); // QEMU gone or nothing to cancel
    await qmp.execute("cont", {}).catch(() => undefined);
    throw err;
  } finally {
    receiver.close();
    qmp.close();
    await rm(outgoingSocket, { force: true });
  }
}

/** After a launch with INCOMING_ARGS: waits until QEMU has loaded the snapshot, then resumes the guest. */
export async function resumeIncoming(qmpSocket: string): Promise<void> {
  const qmp = await QmpClient.connect(qmpSocket).catch((err: Error) => {
    // QEMU exits when the stream does not load (a snapshot cut short, or from another QEMU or kernel).
    throw new StrataError("INSTANCE_FAILED", `QEMU ended while loading the snapshot (${err.message})`, undefined, { cause: err });
  });
  try {
    await waitMigration(qmp, "completed");
    await qmp.execute("cont", {});
  } finally {
    qmp.close();
  }
}

async function waitMigration(qmp: QmpClient, want: string, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + MIGRATE_WAIT_MS;
  for (;;) {
    signal?.throwIfAborted();
    const status = await qmp.execute("query-migrate", {});
    if (status.status === want) return;
    if (status.status === "failed") throw new StrataError("INSTANCE_FAILED", `snapshot migration failed: ${status["error-desc"] ?? "no reason given"}`);
    if (Date.now() > deadline) throw new StrataError("INSTANCE_FAILED", `snapshot migration still ${status.status ?? "not started"} after ${MIGRATE_WAIT_MS / 1000} s`);
    await sleep(MIGRATE_POLL_MS);
  }
}

/**
 * Listens on `sock` for one connection (QEMU's outgoing migration) and writes what arrives to `file`.
 * close() ends the server and any connection, so nothing is left when the migration never comes.
 */
class FileReceiver {
  private conn: Socket | undefined;

  private constructor(
    private readonly server: Server,
    private readonly written: Promise<void>,
  ) {}

  static async listen(sock: string, file: string): Promise<FileReceiver> {
    await rm(sock, { force: true });
    const server = createServer();
    let receiver!: FileReceiver;
    const written = new Promise<void>((resolve, reject) => {
      server.once("connection", (conn) => {
        receiver.conn = conn;
        server.close(); // one stream only
        pipeline(conn, createWriteStream(file)).then(resolve, reject);
      });
    });
    written.catch(() => undefined); // observed by done(); a receiver closed before done() must not leave an unhandled rejection
    receiver = new FileReceiver(server, written);
    await new Promise<void>((res, rej) => server.listen(sock, res).once("error", rej));
    return receiver;
  }

  /** Resolves when the whole stream is in the file; rejects when `signal` aborts first. */
  done(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason as Error);
      signal.addEventListener("abort", onAbort, { once: true });
      this.written.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  close(): void {
    this.server.close();
    this.conn?.destroy();
  }
}
