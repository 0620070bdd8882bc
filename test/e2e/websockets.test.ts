import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { WebSocket } from "ws";
import { ensureBaseImages } from "../support/base-images.js";
import { REPO, TestDaemon } from "./harness.js";
import { leftoversOf } from "./leftovers.js";

/**
 * WebSockets through the router, with the ws client: a worker's WebSocketPair echo (the engine completes
 * the handshake), a Node.js container app that does its own handshake, and an app scaled to zero that the
 * upgrade request cold-starts.
 */
const FIXTURES = join(REPO, "test", "fixtures", "apps");
let d: TestDaemon;
let work: string;
let isolateUnavailable: string | undefined;
let runcUnavailable: string | undefined;
const instanceIds = new Set<string>();

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-websockets-"));
  d = await TestDaemon.start();
  isolateUnavailable = await d.driverUnavailable("isolate");
  runcUnavailable = await d.driverUnavailable("runc");
  if (!runcUnavailable) await ensureBaseImages(["nodejs20"]);
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
  if (d) assert.deepEqual(await leftoversOf(d.home, [...instanceIds]), [], "the suite left resources behind");
});

/** Opens a WebSocket to `host` through the router; resolves with it open and its first message. */
async function connect(host: string, path: string): Promise<{ ws: WebSocket; first: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${d.info.routerPort}${path}`, { headers: { host } });
  const first = next(ws);
  await Promise.race([once(ws, "open"), sleep(60_000).then(() => assert.fail(`no WebSocket to ${host} within 60 s`))]);
  return { ws, first: String((await first).data) };
}

function next(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    ws.once("message", (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }));
    ws.once("error", reject);
    ws.once("close", (code) => reject(new Error(`closed (${code}) before a message came`)));
  });
}

async function roundTrip(ws: WebSocket, data: string | Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  const reply = next(ws);
  ws.send(data);
  return reply;
}

async function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  const [code, reason] = (await once(ws, "close")) as [number, Buffer];
  return { code, reason: reason.toString() };
}

async function instances(app: string): Promise<Array<{ id: string; version: string }>> {
  const list = JSON.parse(await d.cliOk(["instances", app, "--json"])) as Array<{ id: string; version: string }>;
  for (const i of list) instanceIds.add(i.id);
  return list;
}

test("a worker's WebSocketPair echo answers through the router", async (t) => {
  if (isolateUnavailable) return t.skip(isolateUnavailable);
  await d.cliOk(["deploy", join(FIXTURES, "isolate-websocket"), "--version", "v1"]);
  const plain = await d.request("ws-worker.localhost", "/");
  assert.equal(plain.status, 426, "a request without the upgrade reaches the worker as usual");

  const { ws, first } = await connect("ws-worker.localhost", "/room/7");
  assert.equal(first, "hello from the worker at /room/7");
  assert.equal(String((await roundTrip(ws, "hi")).data), "echo: hi");
  const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256));
  const binary = await roundTrip(ws, bytes);
  assert.equal(binary.isBinary, true);
  assert.ok(binary.data.equals(bytes), "binary frames come back byte for byte");
  const end = closed(ws);
  ws.send("close me");
  assert.deepEqual(await end, { code: 4001, reason: "asked to" }, "the worker's close reaches the client");

  // Two at once, each its own conversation.
  const [a, b] = await Promise.all([connect("ws-worker.localhost", "/a"), connect("ws-worker.localhost", "/b")]);
  assert.deepEqual([a.first, b.first], ["hello from the worker at /a", "hello from the worker at /b"]);
  assert.equal(String((await roundTrip(b.ws, "to b")).data), "echo: to b");
  assert.equal(String((await roundTrip(a.ws, "to a")).data), "echo: to a");
  for (const { ws } of [a, b]) {
    const c = closed(ws);
    ws.close(1000);
    assert.equal((await c).code, 1000);
  }
  const logs = await d.cliOk(["logs", "ws-worker"]);
  assert.match(logs, /GET \/room\/7 101/, "the access log has the WebSocket, with its 101");
});

test("a Node.js container app's WebSocket echo answers through the router", { timeout: 600_000 }, async (t) => {
  if (runcUnavailable) return t.skip(runcUnavailable);
  await d.cliOk(["deploy", join(FIXTURES, "node-websocket"), "--version", "v1"]);
  assert.match((await d.request("node-websocket.localhost", "/")).text, /^node websocket app v1/);
  await instances("node-websocket");
  const { ws, first } = await connect("node-websocket.localhost", "/chat?x=1");
  assert.equal(first, "hello from v1 at /chat?x=1");
  assert.equal(String((await roundTrip(ws, "over runc")).data), "over runc");
  const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256));
  const binary = await roundTrip(ws, bytes);
  assert.equal(binary.isBinary, true);
  assert.ok(binary.data.equals(bytes));
  const pong = new Promise<Buffer>((resolve) => ws.once("pong", resolve));
  ws.ping("are you there");
  assert.equal(String(await pong), "are you there");
  const c = closed(ws);
  ws.close(1000, "done");
  assert.equal((await c).code, 1000);
});

test("a WebSocket to an app scaled to zero cold-starts it, and an open WebSocket keeps its instance past the idle timeout", { timeout: 600_000 }, async (t) => {
  if (runcUnavailable) return t.skip(runcUnavailable);
  const dir = join(work, "zero");
  await cp(join(FIXTURES, "node-websocket"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: nodejs20\nautomatic_scaling:\n  idle_timeout: 1s\n");
  await d.cliOk(["deploy", dir, "--app", "zero", "--version", "v1"]);
  let running = await instances("zero");
  for (let i = 0; i < 100 && running.length > 0; i++) {
    await sleep(100);
    running = await instances("zero");
  }
  assert.equal(running.length, 0, "the app did not scale to zero after its idle timeout");

  const { ws, first } = await connect("zero.localhost", "/wake");
  assert.equal(first, "hello from v1 at /wake", "the upgrade waited in the activator for a new instance");
  assert.equal((await instances("zero")).length, 1);
  await sleep(3_000); // three idle timeouts, while the WebSocket is open
  assert.equal(String((await roundTrip(ws, "still here")).data), "still here", "the instance stayed for the open WebSocket");
  assert.equal((await instances("zero")).length, 1);
  const c = closed(ws);
  ws.close(1000);
  await c;
  for (let i = 0; i < 100 && (await instances("zero")).length > 0; i++) await sleep(100);
  assert.equal((await instances("zero")).length, 0, "once the WebSocket closed, the instance idled out");
});

test("a worker scaled to zero is brought back by a WebSocket upgrade", async (t) => {
  if (isolateUnavailable) return t.skip(isolateUnavailable);
  const dir = join(work, "wzero");
  await cp(join(FIXTURES, "isolate-websocket"), dir, { recursive: true });
  await writeFile(join(dir, "app.yaml"), "runtime: workers\nautomatic_scaling:\n  idle_timeout: 1s\n");
  await d.cliOk(["deploy", dir, "--app", "wzero", "--version", "v1"]);
  let running = await instances("wzero");
  for (let i = 0; i < 100 && running.length > 0; i++) {
    await sleep(100);
    running = await instances("wzero");
  }
  assert.equal(running.length, 0, "the worker did not scale to zero after its idle timeout");
  const { ws, first } = await connect("wzero.localhost", "/");
  assert.equal(first, "hello from the worker at /");
  assert.equal(String((await roundTrip(ws, "up again")).data), "echo: up again");
  const c = closed(ws);
  ws.close(1000);
  await c;
});
