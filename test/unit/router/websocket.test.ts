import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import type { InstanceSource, Lease } from "../../../src/router/backend.js";
import { routerOver } from "./router-over.js";
import type { Endpoint } from "../../../src/sandbox/driver.js";

/**
 * WebSocket upgrades through the router, with ws (a real client and server) at both ends: the
 * handshake is the instance's, frames pass both ways unchanged, and the instance's lease is held for the
 * connection's life.
 */

function listen(server: Server, at: number | string = 0): Promise<number> {
  return new Promise((resolve) =>
    typeof at === "string" ? server.listen(at, () => resolve(0)) : server.listen(at, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
}

/** Hands out the given endpoints in turn; records releases and how many leases are out. */
class ListedInstances implements InstanceSource {
  readonly releases: Array<{ id: string; unreachable?: string }> = [];
  out = 0;
  private next = 0;
  constructor(private readonly endpoints: Endpoint[]) {}
  acquire(): Promise<Lease> {
    const i = Math.min(this.next++, this.endpoints.length - 1);
    const id = `i${i}`;
    this.out++;
    return Promise.resolve({
      instanceId: id,
      endpoint: this.endpoints[i]!,
      release: (problem) => {
        this.out--;
        this.releases.push({ id, ...(problem && { unreachable: problem.unreachable.message }) });
      },
    });
  }
}

/** A ws echo server on `server`, answering with the path it was reached at first. */
function echoOn(server: Server): WebSocketServer {
  const wss = new WebSocketServer({ server });
  wss.on("connection", (ws, req) => {
    ws.send(`hello ${req.url} via ${req.headers["x-forwarded-host"]}`);
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  return wss;
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    ws.once("message", (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }));
    ws.once("error", reject);
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`${what} did not happen within 2 s`);
}

test("a WebSocket through the router reaches the instance, echoes text and binary frames, and holds its lease until closed", { timeout: 10_000 }, async (t) => {
  const app = createServer((_req, res) => res.end("plain"));
  const wss = echoOn(app);
  const appPort = await listen(app);
  t.after(() => {
    wss.close();
    app.close();
  });
  const instances = new ListedInstances([{ host: "127.0.0.1", port: appPort }]);
  const { port, logs } = await routerOver(t, instances);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat?room=1`, { headers: { host: "app.localhost" } });
  const greeting = nextMessage(ws);
  await once(ws, "open");
  assert.equal((await greeting).data.toString(), "hello /chat?room=1 via app.localhost");
  const text = nextMessage(ws);
  ws.send("ping over the router");
  assert.deepEqual({ ...(await text), data: (await text).data.toString() }, { data: "ping over the router", isBinary: false });
  const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251)); // past a 16-bit length, a 64-bit frame length
  const binary = nextMessage(ws);
  ws.send(bytes);
  const echoed = await binary;
  assert.equal(echoed.isBinary, true);
  assert.ok(echoed.data.equals(bytes));
  assert.equal(instances.out, 1, "the lease is held while the WebSocket is open");
  ws.close(1000, "bye");
  const [code] = (await once(ws, "close")) as [number];
  assert.equal(code, 1000);
  await until("the lease's release", () => instances.out === 0);
  assert.deepEqual(instances.releases, [{ id: "i0" }]);
  await until("the access line", async () => (await logs.recent("app", 10)).some((l) => l.kind === "access" && l.status === 101));
  const line = (await logs.recent("app", 10)).find((l) => l.kind === "access" && l.status === 101);
  assert.equal(line?.kind === "access" && line.path, "/chat?room=1");
});

test("an instance that refuses the upgrade answers as it would any request, and the connection closes", { timeout: 10_000 }, async (t) => {
  const app = createServer((_req, res) => res.writeHead(426, { "content-type": "text/plain" }).end("no websockets here"));
  const appPort = await listen(app);
  t.after(() => void app.close());
  const instances = new ListedInstances([{ host: "127.0.0.1", port: appPort }]);
  const { port } = await routerOver(t, instances);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: "app.localhost" } });
  const [, res] = (await once(ws, "unexpected-response")) as [unknown, import("node:http").IncomingMessage];
  assert.equal(res.statusCode, 426);
  let body = "";
  for await (const c of res) body += String(c);
  assert.equal(body, "no websockets here");
  if (!res.socket.destroyed) await once(res.socket, "close"); // the router closes the connection
  await until("the lease's release", () => instances.out === 0);
});

test("an upgrade whose instance refuses the connection goes to the next instance; an unknown host gets 404", { timeout: 10_000 }, async (t) => {
  const dead = createServer();
  const deadPort = await listen(dead);
  await new Promise((r) => dead.close(r));
  const app = createServer();
  const wss = echoOn(app);
  const appPort = await listen(app);
  t.after(() => {
    wss.close();
    app.close();
  });
  const instances = new ListedInstances([{ host: "127.0.0.1", port: deadPort }, { host: "127.0.0.1", port: appPort }]);
  const { port } = await routerOver(t, instances);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/x`, { headers: { host: "app.localhost" } });
  const greeting = nextMessage(ws);
  await once(ws, "open");
  assert.match((await greeting).data.toString(), /^hello \/x/);
  assert.match(instances.releases[0]?.unreachable ?? "", /ECONNREFUSED/);
  ws.close();
  await once(ws, "close");

  const stray = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: "nope.localhost" } });
  const [, res] = (await once(stray, "unexpected-response")) as [unknown, import("node:http").IncomingMessage];
  assert.equal(res.statusCode, 404);
  res.resume();
  if (!res.socket.destroyed) await once(res.socket, "close");
});

test("an upgrade reaches an instance on a unix socket (as isolates are), and a client that leaves mid-handshake releases the lease", { timeout: 10_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-ws-sock-"));
  const socket = join(dir, "app.sock");
  let answerUpgrade: (() => void) | undefined;
  const app = createServer();
  const wss = new WebSocketServer({ noServer: true });
  app.on("upgrade", (req, sock, head) => {
    const go = () => wss.handleUpgrade(req, sock, head, (ws) => ws.on("message", (d, b) => ws.send(d, { binary: b })));
    if (req.url === "/slow") answerUpgrade = go;
    else go();
  });
  await listen(app, socket);
  t.after(async () => {
    wss.close();
    app.close();
    await rm(dir, { recursive: true, force: true });
  });
  const instances = new ListedInstances([{ socket }]);
  const { port } = await routerOver(t, instances);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: "app.localhost" } });
  await once(ws, "open");
  const echo = nextMessage(ws);
  ws.send("over a unix socket");
  assert.equal((await echo).data.toString(), "over a unix socket");
  ws.close();
  await once(ws, "close");
  await until("the first lease's release", () => instances.out === 0);

  // A raw client sends a handshake and leaves before the instance answers it.
  const raw = connect(port, "127.0.0.1");
  raw.write("GET /slow HTTP/1.1\r\nHost: app.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  await until("the slow upgrade reaching the instance", () => answerUpgrade !== undefined);
  raw.destroy();
  await until("the second lease's release", () => instances.out === 0);
  assert.equal(instances.releases.length, 2);
  assert.equal(instances.releases[1]?.unreachable, undefined, "a client leaving does not put the instance out of service");
});
