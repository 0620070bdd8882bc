import WebSocket from "ws";
import { StrataError } from "../../errors.js";
import type { ExecIO } from "../driver.js";
import type { LxdClient } from "./client.js";

/** How long the output streams may still be draining once LXD says the command ended. */
const DRAIN_MS = 5_000;
/** A command runs at most this long (LXD's operation wait). */
const MAX_RUN_S = 3600;

/**
 * Runs argv in the instance through LXD's exec API in non-interactive mode with `wait-for-websocket`
 * (doc: "Instance command execution", POST /1.0/instances/{name}/exec): LXD answers with one secret per
 * stream (0 stdin, 1 stdout, 2 stderr, control) and starts the command once all four websockets of the
 * operation are connected. stdout and stderr are handed on as they arrive; stdin is closed at once (EOF:
 * the command gets no input); the control socket stays open until the end, since closing it makes LXD
 * kill the command, which is how an abort (the caller went away) ends it. The exit code is the
 * operation's `return`.
 */
export async function execStreaming(client: LxdClient, instance: string, argv: readonly string[], io: ExecIO): Promise<number> {
  const { path, operation } = await client.begin("POST", `/1.0/instances/${instance}/exec`, {
    command: argv,
    interactive: false,
    "wait-for-websocket": true,
    "record-output": false,
  });
  const fds = (operation.metadata as { fds?: Record<string, string> } | null)?.fds;
  if (!fds?.["0"] || !fds["1"] || !fds["2"] || !fds.control) throw new StrataError("DRIVER_FAILED", `LXD's exec operation ${path} named no websockets`);
  const url = (secret: string) => `ws+unix://${client.socketPath}:${path}/websocket?secret=${encodeURIComponent(secret)}`;
  const sockets = { stdin: new WebSocket(url(fds["0"])), stdout: new WebSocket(url(fds["1"])), stderr: new WebSocket(url(fds["2"])), control: new WebSocket(url(fds.control)) };
  const all = Object.values(sockets);
  const closed = (ws: WebSocket) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once("close", () => resolve())));
  const failed = new Promise<never>((_, reject) => {
    for (const ws of all) ws.once("error", (err) => reject(new StrataError("DRIVER_FAILED", `LXD's exec websocket failed: ${err.message}`, undefined, { cause: err })));
  });
  failed.catch(() => undefined); // raced below; an error after the end is of no interest
  sockets.stdout.on("message", (data: Buffer) => data.length > 0 && io.stdout(data));
  sockets.stderr.on("message", (data: Buffer) => data.length > 0 && io.stderr(data));
  const abort = () => sockets.control.close();
  io.signal?.addEventListener("abort", abort, { once: true });
  try {
    await Promise.race([Promise.all(all.map((ws) => new Promise<void>((resolve) => ws.once("open", () => resolve())))), failed]);
    sockets.stdin.close();
    const done = await Promise.race([client.wait(path, MAX_RUN_S, `exec in ${instance}`), failed]);
    // The last output may still be on its way when the operation ends.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([closed(sockets.stdout), closed(sockets.stderr)]), new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)))]);
    clearTimeout(timer);
    const code = (done.metadata as { return?: number } | null)?.return;
    if (typeof code !== "number") throw new StrataError("DRIVER_FAILED", `LXD's exec in ${instance} ended without an exit code`);
    return code;
  } finally {
    io.signal?.removeEventListener("abort", abort);
    for (const ws of all) ws.terminate();
  }
}
