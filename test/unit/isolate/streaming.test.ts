import assert from "node:assert/strict";
import { request } from "node:http";
import { test, type TestContext } from "node:test";
import type { Instance } from "../../../src/sandbox/driver.js";
import type { IsolateDriverOptions } from "../../../src/sandbox/isolate/index.js";
import { call, LogSink, startTestWorker } from "./helpers.js";
import { StreamedResponse } from "./stream-client.js";
import { STREAMING_WORKER } from "./streaming-worker.js";

/** A response from an instance, handed over as soon as its head arrives. */
function open(instance: Instance, path: string, method = "GET"): Promise<StreamedResponse> {
  const socketPath = (instance.endpoint as { socket: string }).socket;
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method, headers: { host: "stream.localhost" } }, (res) => resolve(new StreamedResponse(res)));
    req.on("error", reject);
    req.end();
  });
}

function startStreamingWorker(t: TestContext, opts: Partial<IsolateDriverOptions> = {}): Promise<{ inst: Instance; logs: LogSink }> {
  return startTestWorker(t, "streaming", STREAMING_WORKER, opts);
}

async function state(inst: Instance): Promise<{ produced: number; cancelled: string | null }> {
  return JSON.parse((await call(inst, "/state")).body) as { produced: number; cancelled: string | null };
}

for (const [what, path, second] of [
  ["a ReadableStream body", "/readable", "second-released"],
  ["a TransformStream's readable side, written with awaited writes", "/transform", "second-released"],
  ["a stream piped through two TransformStreams", "/piped", "SECOND-RELEASED"],
] as const) {
  test(`${what} reaches the client chunk by chunk, as the worker produces it`, async (t) => {
    const { inst } = await startStreamingWorker(t);
    const res = await open(inst, path);
    assert.equal(res.res.statusCode, 200);
    assert.equal(res.res.headers["transfer-encoding"], "chunked");
    // The second part is produced only after this request, made once the first part arrived.
    assert.match(await res.until(/\|/), /^(first|FIRST)\|$/);
    assert.equal((await call(inst, "/release")).body, "ok");
    assert.equal(await res.done(), "end");
    assert.equal(res.text, `${path === "/piped" ? "FIRST" : "first"}|${second}`);
  });
}

test("a slow client holds the worker's stream back (bounded buffering), then receives all of it", async (t) => {
  // Moving 6 MiB through the prelude's streams costs more CPU than one request's default budget;
  // this test is about memory, so it gets a budget that is not in the way.
  const { inst, logs } = await startStreamingWorker(t, { cpuMsPerRequest: 5_000 });
  const chunks = 400;
  const size = 16 * 1024;
  const res = await open(inst, `/many?n=${chunks}&size=${size}`);
  await res.until(/a/);
  res.res.pause();
  // Let the pipeline fill (socket buffers, one chunk in flight), then see that production stopped.
  let produced = -1;
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = (await state(inst)).produced;
    if (now === produced) break;
    produced = now;
  }
  assert.ok(produced < chunks / 4, `the worker made ${produced} of ${chunks} chunks for a client that read one`);
  res.res.resume();
  assert.equal(await res.done(), "end", logs.lines.join("\n"));
  assert.equal(res.text.length, chunks * size);
  assert.equal((await state(inst)).produced, chunks);
});

test("a stream that errors mid-way cuts the response off and logs why", async (t) => {
  const { inst, logs } = await startStreamingWorker(t);
  const res = await open(inst, "/fail");
  assert.equal(res.res.statusCode, 200);
  await res.until(/partial\|/);
  await call(inst, "/release");
  assert.equal(await res.done(), "aborted");
  assert.equal(res.text, "partial|");
  await logs.waitFor(/^stderr: the response body stream failed: RangeError: kaboom; the response was cut off$/);

  const bad = await open(inst, "/not-bytes");
  assert.equal(await bad.done(), "aborted");
  assert.equal(bad.text, "ok|");
  await logs.waitFor(/the response body stream failed: TypeError: the response body stream produced 42, not bytes/);
  assert.equal((await call(inst, "/state")).status, 200, "the instance keeps serving");
});

test("a client that goes away cancels the worker's stream", async (t) => {
  const { inst } = await startStreamingWorker(t);
  const res = await open(inst, "/endless");
  await res.until(/tick\|/);
  res.res.destroy();
  let cancelled: string | null = null;
  for (let i = 0; i < 100 && cancelled === null; i++) {
    await new Promise((r) => setTimeout(r, 20));
    cancelled = (await state(inst)).cancelled;
  }
  assert.equal(cancelled, "the client closed the connection before the response body ended");
});

test("a request's body returned as the response body streams back; a worker's Content-Length does not frame it", async (t) => {
  const { inst } = await startStreamingWorker(t);
  const body = "x".repeat(200_000);
  const r = await call(inst, "/echo", { method: "POST", body });
  assert.equal(r.status, 200);
  assert.equal(r.headers["transfer-encoding"], "chunked");
  assert.equal(r.headers["content-length"], undefined);
  assert.equal(r.body, body);
});

test("a HEAD request gets the head of a streamed response and no body", async (t) => {
  const { inst } = await startStreamingWorker(t);
  const res = await open(inst, "/readable", "HEAD");
  assert.equal(res.res.statusCode, 200);
  assert.equal(res.res.headers["x-streamed"], "yes");
  assert.equal(await res.done(), "end");
  assert.equal(res.text, "");
});

test("the CPU limit applies while a response streams: the isolate is reset and the response cut off", async (t) => {
  const { inst, logs } = await startStreamingWorker(t, { cpuMsPerRequest: 50 });
  const res = await open(inst, "/spin");
  await res.until(/before-spin\|/);
  await call(inst, "/release");
  assert.equal(await res.done(), "aborted");
  assert.equal(res.text, "before-spin|");
  await logs.waitFor(/^stderr: request exceeded its CPU limit of 50 ms; the isolate was reset$/);
  assert.equal((await call(inst, "/state")).status, 200, "a fresh isolate serves again");
});
