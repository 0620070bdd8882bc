import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Agent, request, type ClientRequest, type IncomingMessage } from "node:http";
import { test, type TestContext } from "node:test";
import type { Instance } from "../../../src/sandbox/driver.js";
import type { IsolateDriverOptions } from "../../../src/sandbox/isolate/index.js";
import { call, LogSink, startTestWorker } from "./helpers.js";
import { StreamedResponse } from "./stream-client.js";
import { UPLOAD_WORKER } from "./upload-worker.js";

/** A failing upload can leave a connection waiting: the test ends (and fails) instead of hanging. */
const WAIT = { timeout: 60_000 };

function startUploadWorker(t: TestContext, opts: Partial<IsolateDriverOptions> = {}): Promise<{ inst: Instance; logs: LogSink }> {
  return startTestWorker(t, "upload", UPLOAD_WORKER, opts);
}

interface Upload {
  readonly req: ClientRequest;
  /** The response, once its head arrives. */
  readonly res: Promise<IncomingMessage>;
}

/** A POST whose body the test writes itself (chunked unless a content-length is given). */
function upload(inst: Instance, path: string, headers: Record<string, string> = {}, agent?: Agent): Upload {
  const socketPath = (inst.endpoint as { socket: string }).socket;
  let req!: ClientRequest;
  const res = new Promise<IncomingMessage>((resolve, reject) => {
    req = request({ socketPath, path, method: "POST", agent, headers: { host: "upload.localhost", ...headers } }, resolve);
    req.on("error", reject);
  });
  res.catch(() => undefined); // a test that expects the connection to fail awaits req instead
  return { req, res };
}

/** Writes `bytes` in 64 KiB pieces as the connection takes them; resolves once all were handed to the socket. */
async function writeAll(req: ClientRequest, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; at += 64 * 1024) {
    const piece = bytes.subarray(at, at + 64 * 1024);
    await new Promise<void>((resolve, reject) => req.write(piece, (err) => (err ? reject(err) : resolve())));
  }
}

/** A response body as bytes, and how it ended. */
function collect(res: IncomingMessage): { bytes: () => Buffer; done: Promise<"end" | "aborted"> } {
  const parts: Buffer[] = [];
  res.on("data", (c: Buffer) => parts.push(c));
  const done = new Promise<"end" | "aborted">((resolve) => {
    res.on("end", () => resolve("end"));
    res.on("error", () => resolve("aborted"));
    res.on("close", () => resolve(res.complete ? "end" : "aborted"));
  });
  return { bytes: () => Buffer.concat(parts), done };
}

async function state(inst: Instance): Promise<{ firstChunk: number; total: number; error: string | null }> {
  return JSON.parse((await call(inst, "/state")).body) as { firstChunk: number; total: number; error: string | null };
}

test("a worker reading request.body with a reader gets the first chunk before the client has sent the rest", WAIT, async (t) => {
  const { inst } = await startUploadWorker(t);
  const up = upload(inst, "/reader");
  up.req.write("hello");
  const res = new StreamedResponse(await up.res);
  // The worker answers with what it read so far while the client still holds the rest back.
  assert.equal(await res.until(/\n/), "first:hello\n");
  await writeAll(up.req, Buffer.alloc(100_000, 120));
  up.req.end();
  assert.equal(await res.done(), "end");
  assert.equal(res.text, "first:hello\ntotal:100005\n");
});

test("an upload of several MB echoed through a TransformStream comes back byte for byte, as it goes", WAIT, async (t) => {
  // Moving MBs through the prelude's streams both ways costs more CPU than one request's default
  // budget on a loaded host; this test is about the bytes, so it gets a budget not in the way.
  const { inst, logs } = await startUploadWorker(t, { cpuMsPerRequest: 5_000 });
  const body = randomBytes(6 * 1024 * 1024);
  const up = upload(inst, "/echo", { "content-length": String(body.length) });
  await writeAll(up.req, body.subarray(0, 64 * 1024));
  const res = await up.res;
  assert.equal(res.statusCode, 200);
  const out = collect(res);
  // The first part comes back before the rest is sent.
  for (let i = 0; i < 500 && out.bytes().length < 64 * 1024; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(out.bytes(), body.subarray(0, 64 * 1024));
  await writeAll(up.req, body.subarray(64 * 1024));
  up.req.end();
  assert.equal(await out.done, "end", logs.lines.join("\n"));
  assert.ok(out.bytes().equals(body), `echoed ${out.bytes().length} of ${body.length} bytes, not identical`);
});

test("a worker that reads slowly holds the client back: the engine takes a bounded part of the upload", WAIT, async (t) => {
  const { inst, logs } = await startUploadWorker(t, { cpuMsPerRequest: 5_000 });
  const size = 8 * 1024 * 1024;
  const up = upload(inst, "/hold", { "content-length": String(size) });
  let flushed = 0;
  const piece = Buffer.alloc(64 * 1024, 97);
  const writing = (async () => {
    for (let at = 0; at < size; at += piece.length) {
      await new Promise<void>((resolve, reject) => up.req.write(piece, (err) => (err ? reject(err) : resolve())));
      flushed += piece.length;
    }
    up.req.end();
  })();
  // The worker read one chunk and waits; the client gets only as far as the buffers between.
  for (let i = 0; i < 500 && (await state(inst)).firstChunk === 0; i++) await new Promise((r) => setTimeout(r, 10));
  let seen = -1;
  for (let i = 0; i < 50 && seen !== flushed; i++) {
    seen = flushed;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(flushed < size / 4, `the client wrote ${flushed} of ${size} bytes to a worker that read one chunk`);
  assert.equal((await call(inst, "/release")).body, "ok");
  await writing;
  const out = collect(await up.res);
  assert.equal(await out.done, "end", logs.lines.join("\n"));
  assert.equal(out.bytes().toString(), String(size));
  assert.equal((await state(inst)).total, size);
});

for (const [what, path, answer] of [
  ["ignores the body", "/ignore", "ignored"],
  ["cancels request.body", "/cancel", "cancelled"],
] as const) {
  test(`a worker that ${what} answers at once; the rest is discarded and the connection serves the next request`, WAIT, async (t) => {
    const { inst } = await startUploadWorker(t);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const size = 2 * 1024 * 1024;
    const up = upload(inst, path, { "content-length": String(size) }, agent);
    await writeAll(up.req, Buffer.alloc(64 * 1024, 97));
    const out = collect(await up.res);
    assert.equal(await out.done, "end");
    assert.equal(out.bytes().toString(), answer, "answered before the client sent the rest");
    await writeAll(up.req, Buffer.alloc(size - 64 * 1024, 97));
    await new Promise<void>((resolve) => up.req.end(resolve));

    const next = upload(inst, "/text", {}, agent);
    next.req.end("again");
    const nextRes = await next.res;
    assert.equal(next.req.reusedSocket, true, "the keep-alive connection was used again");
    const nextOut = collect(nextRes);
    assert.equal(await nextOut.done, "end");
    assert.equal(nextOut.bytes().toString(), "text:again");
  });
}

test("text(), json() and arrayBuffer() read the whole body, sent at once or in parts", WAIT, async (t) => {
  const { inst } = await startUploadWorker(t);
  assert.equal((await call(inst, "/text", { method: "POST", body: "héllo" })).body, "text:héllo");
  assert.deepEqual(JSON.parse((await call(inst, "/json", { method: "POST", body: '{"a":[1,2]}' })).body), { parsed: { a: [1, 2] } });
  assert.equal((await call(inst, "/bytes", { method: "POST", body: "" })).body, "0");

  // In parts: the worker is already waiting in json() when the second part comes.
  const up = upload(inst, "/json");
  up.req.write('{"big":"');
  await new Promise((r) => setTimeout(r, 50));
  await writeAll(up.req, Buffer.alloc(300_000, 122));
  up.req.end('"}');
  const out = collect(await up.res);
  assert.equal(await out.done, "end");
  assert.deepEqual(JSON.parse(out.bytes().toString()), { parsed: { big: "z".repeat(300_000) } });
});

test("a body over the cap gets 413 before the worker answers, and the connection goes on; once the response has begun, the worker's read fails", WAIT, async (t) => {
  const cap = 256 * 1024;
  const { inst, logs } = await startUploadWorker(t, { maxRequestBodyBytes: cap });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());

  // A declared length over the cap: the worker is not called; the body is read and dropped, then the
  // 413, and the keep-alive connection serves the next request.
  const declared = upload(inst, "/bytes", { "content-length": String(cap + 1) }, agent);
  await writeAll(declared.req, Buffer.alloc(cap + 1, 97));
  declared.req.end();
  const refused = await declared.res;
  const refusedOut = collect(refused);
  await refusedOut.done;
  assert.equal(refused.statusCode, 413);
  assert.equal(refusedOut.bytes().toString(), `request body larger than ${cap} bytes\n`);

  // A chunked body that grows past the cap while the worker reads it whole: the same, on the same connection.
  const chunked = upload(inst, "/count", {}, agent);
  await writeAll(chunked.req, Buffer.alloc(cap + 1, 97));
  chunked.req.end();
  const tooBig = await chunked.res;
  const tooBigOut = collect(tooBig);
  await tooBigOut.done;
  assert.equal(chunked.req.reusedSocket, true, "the connection of the first 413 was used again");
  assert.equal(tooBig.statusCode, 413);
  assert.equal(tooBigOut.bytes().toString(), `request body larger than ${cap} bytes\n`);
  const after = upload(inst, "/count", {}, agent);
  after.req.end("fits");
  const afterRes = await after.res;
  assert.equal(afterRes.statusCode, 200);
  assert.equal(after.req.reusedSocket, true, "and again after the second");
  await collect(afterRes).done;
  for (let i = 0; i < 200 && (await state(inst)).error === null; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal((await state(inst)).error, `request body larger than ${cap} bytes`);

  // An echo has sent its head already: the body's failure cuts the response off, and is logged.
  const echo = upload(inst, "/echo");
  await writeAll(echo.req, Buffer.alloc(64 * 1024, 97));
  const echoRes = await echo.res;
  assert.equal(echoRes.statusCode, 200);
  const echoOut = collect(echoRes);
  await writeAll(echo.req, Buffer.alloc(cap, 97)).catch(() => undefined); // the engine may close first
  assert.equal(await echoOut.done, "aborted");
  echo.req.destroy();
  await logs.waitFor(new RegExp(`the response body stream failed: .*request body larger than ${cap} bytes`));
  assert.equal((await call(inst, "/text", { method: "POST", body: "still here" })).body, "text:still here");
});

test("a client that leaves mid-upload fails the worker's read; the CPU limit applies while a worker reads", WAIT, async (t) => {
  const { inst, logs } = await startUploadWorker(t, { cpuMsPerRequest: 50 });
  const up = upload(inst, "/count");
  up.req.on("error", () => undefined); // destroyed below on purpose
  up.req.write("partial");
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
  up.req.destroy();
  for (let i = 0; i < 200 && (await state(inst)).error === null; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal((await state(inst)).error, "the client closed the connection before the request body ended");

  const spin = upload(inst, "/spin");
  spin.req.write("go");
  const res = await spin.res;
  const out = collect(res);
  await out.done;
  spin.req.end();
  assert.equal(res.statusCode, 503);
  assert.match(out.bytes().toString(), /request exceeded its CPU limit of 50 ms; the isolate was reset/);
  await logs.waitFor(/^stderr: request exceeded its CPU limit of 50 ms; the isolate was reset$/);
  assert.equal((await call(inst, "/text", { method: "POST", body: "fresh" })).body, "text:fresh", "a fresh isolate serves again");
});
