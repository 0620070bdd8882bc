import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { test, type TestContext } from "node:test";
import { brotliCompressSync, deflateRawSync, gzipSync } from "node:zlib";
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
  assert.equal(new TextDecoder().decode(r.body), "other");
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
  assert.equal(new TextDecoder().decode(r.body), "no type");
  assert.equal(seen[0]?.["content-length"], undefined);
});

test("gzip, deflate (zlib or raw) and br bodies are decoded; the content-encoding header stays", async (t) => {
  const text = "decoded ".repeat(100);
  const origin = await serve(t, (path, _headers, res) => {
    const coding = path.slice(1);
    const encoded = coding === "gzip" ? gzipSync(text) : coding === "br" ? brotliCompressSync(text) : coding === "deflate" ? deflateRawSync(text) : Buffer.from("not gzip");
    res.writeHead(200, { "content-encoding": coding === "broken" ? "gzip" : coding }).end(encoded);
  });
  for (const coding of ["gzip", "br", "deflate"]) {
    const r = await outboundFetch(get(`${origin}/${coding}`), ANY_ADDRESS);
    assert.equal(new TextDecoder().decode(r.body), text, coding);
    assert.equal(r.headers.find(([k]) => k === "content-encoding")?.[1], coding);
  }
  await assert.rejects(outboundFetch(get(`${origin}/broken`), ANY_ADDRESS), /the gzip-encoded response body could not be decoded/);
});

test("tenants' fetch to loopback stays refused by the default policy", async (t) => {
  const origin = await serve(t, (_p, _h, res) => res.end("no"));
  await assert.rejects(outboundFetch(get(origin)), /refused/);
});
