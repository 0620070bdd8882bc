import assert from "node:assert/strict";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import { test } from "node:test";
import { Proxy, type ForwardResult } from "../../../src/router/proxy.js";

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

/** An app behind a Proxy, both on loopback; returns the proxy's port. */
async function behindProxy(t: { after(fn: () => void): void }, app: Server): Promise<{ port: number; done: ForwardResult[] }> {
  const appPort = await listen(app);
  const proxy = new Proxy();
  const done: ForwardResult[] = [];
  const front = createServer((req, res) => proxy.forward(req, res, { host: "127.0.0.1", port: appPort }, (result) => done.push(result)));
  const port = await listen(front);
  t.after(() => {
    proxy.close();
    front.close();
    app.close();
  });
  return { port, done };
}

function get(port: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => request({ host: "127.0.0.1", port, path: "/" }, resolve).on("error", reject).end());
}

test("a streamed response's head reaches the client before its first chunk", { timeout: 10_000 }, async (t) => {
  let release!: () => void;
  const firstChunk = new Promise<void>((r) => (release = r));
  const app = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.flushHeaders();
    void firstChunk.then(() => res.end("data: one\n\n"));
  });
  const { port, done } = await behindProxy(t, app);
  const res = await get(port); // resolves on the head alone: the chunk is not written yet
  assert.equal(res.headers["content-type"], "text/event-stream");
  release();
  let body = "";
  for await (const chunk of res) body += String(chunk);
  assert.equal(body, "data: one\n\n");
  assert.deepEqual(done, [{ kind: "done" }], "onDone once, without an error");
});

test("a client that goes away mid-stream ends the app's side of the response", { timeout: 10_000 }, async (t) => {
  let appSideClosed!: () => void;
  const closed = new Promise<void>((r) => (appSideClosed = r));
  const app = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first\n");
    const more = setInterval(() => res.write("more\n"), 20); // a stream with no end
    res.on("close", () => {
      clearInterval(more);
      appSideClosed();
    });
  });
  const { port, done } = await behindProxy(t, app);
  const res = await get(port);
  await new Promise((r) => res.once("data", r));
  res.destroy();
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("the app's response stayed open")), 5_000).unref());
  await Promise.race([closed, timeout]);
  assert.equal(done.length <= 1, true, "onDone at most once");
});
