import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { test, type TestContext } from "node:test";
import type { Readable } from "node:stream";
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from "node:zlib";
import { outboundFetch, type OutboundRequest } from "../../../src/sandbox/isolate/engine/outbound-fetch.js";

/**
 * The engine's fetch() against servers on loopback (which the address policy refuses to tenants, so it
 * is lifted here): redirects as the Fetch standard follows them, and content codings decoded.
 */
const ANY_ADDRESS = (): null => null;

async function serve(t: TestContext, handler: (path: string, headers: IncomingHttpHeaders, res: import("node:http").ServerResponse) => void): Promise<string> {
  const server: Server = createServer((req, res) => handler(req.url ?? "/", req.headers, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** The whole body, read as the worker would (chunk by chunk). */
async function text(body: Readable | null): Promise<string> {
  assert.ok(body, "the response has a body");
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

const get = (url: string, headers: Array<[string, string]> = [], method = "GET", body: ArrayBuffer | null = null): OutboundRequest =>
  ({ url, method, headers, body, redirect: "follow" });

test("Authorization follows a redirect within the origin, not one to another origin", async (t) => {
  const seen: Record<string, IncomingHttpHeaders> = {};
  const other = await serve(t, (path, headers, res) => {
    seen[`other${path}`] = headers;
    res.end("other");
  });
  const origin = await serve(t, (path, headers, res) => {
    seen[path] = headers;
    if (path === "/start") res.writeHead(302, { location: "/same" }).end();
    else if (path === "/same") res.writeHead(307, { location: `${other}/away` }).end();
    else res.end("?");
  });
  const r = await outboundFetch(get(`${origin}/start`, [["authorization", "Bearer secret"], ["x-kept", "1"]]), ANY_ADDRESS);
  assert.equal(await text(r.body), "other");
  assert.equal(r.redirected, true);
  assert.equal(seen["/same"]?.authorization, "Bearer secret", "same origin: kept");
  assert.equal(seen["other/away"]?.authorization, undefined, "another origin: dropped");
  assert.equal(seen["other/away"]?.["x-kept"], "1");
});

test("a POST redirected with 303 becomes a GET without its body or body headers", async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const origin = await serve(t, (path, headers, res) => {
    if (path === "/post") return void res.writeHead(303, { location: "/result" }).end();
    seen.push(headers);
    res.end(`${headers["content-type"] ?? "no type"}`);
  });
  const body = new TextEncoder().encode("a=1").buffer as ArrayBuffer;
  const r = await outboundFetch(get(`${origin}/post`, [["content-type", "application/x-www-form-urlencoded"]], "POST", body), ANY_ADDRESS);
  assert.equal(await text(r.body), "no type");
  assert.equal(seen[0]?.["content-length"], undefined);
});

test("gzip, deflate (zlib or raw) and br bodies are decoded; the content-encoding header stays", async (t) => {
  const plain = "decoded ".repeat(100);
  const origin = await serve(t, (path, _headers, res) => {
    const coding = path.slice(1);
    const encoded = { gzip: gzipSync(plain), br: brotliCompressSync(plain), deflate: deflateRawSync(plain), "deflate-zlib": deflateSync(plain) }[coding] ?? Buffer.from("not gzip");
    res.writeHead(200, { "content-encoding": coding === "broken" ? "gzip" : coding.replace("-zlib", "") }).end(encoded);
  });
  for (const coding of ["gzip", "br", "deflate", "deflate-zlib"]) {
    const r = await outboundFetch(get(`${origin}/${coding}`), ANY_ADDRESS);
    assert.equal(await text(r.body), plain, coding);
    assert.equal(r.headers.find(([k]) => k === "content-encoding")?.[1], coding.replace("-zlib", ""));
  }
  const broken = await outboundFetch(get(`${origin}/broken`), ANY_ADDRESS);
  await assert.rejects(text(broken.body), /the gzip-encoded response body could not be decoded/, "the head arrives; reading the body fails");
});

test("tenants' fetch to loopback stays refused by the default policy", async (t) => {
  const origin = await serve(t, (_p, _h, res) => res.end("no"));
  await assert.rejects(outboundFetch(get(origin)), /refused/);
});

test("a response body streams: the first chunk is read before the server has sent the rest, and a HEAD or 204 has none", async (t) => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const origin = await serve(t, (path, _h, res) => {
    if (path === "/empty") return void res.writeHead(204).end();
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first,");
    void held.then(() => res.end("rest"));
  });
  const r = await outboundFetch(get(`${origin}/slow`), ANY_ADDRESS);
  assert.equal(r.status, 200);
  const it = r.body![Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(String(first.value), "first,", "the first chunk arrives while the server still holds the rest");
  release();
  let rest = "";
  for (let n = await it.next(); !n.done; n = await it.next()) rest += String(n.value);
  assert.equal(rest, "rest");
  assert.equal((await outboundFetch(get(`${origin}/empty`), ANY_ADDRESS)).body, null);
  assert.equal((await outboundFetch(get(`${origin}/slow`, [], "HEAD"), ANY_ADDRESS)).body, null);
});
