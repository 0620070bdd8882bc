import assert from "node:assert/strict";
import { test } from "node:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { serveSite } from "./serve-helpers.js";

const PAGE = "<!doctype html><title>home</title>" + "<p>hello world</p>".repeat(100);
const CSS = "body { color: red; }\n".repeat(100);
const BIG = Buffer.alloc(3 * 1024 * 1024, "abcdefghij"); // past the cache's per-entry limit: streamed

const SITE = {
  "index.html": PAGE,
  "css/app.css": CSS,
  "docs/index.html": "<p>docs</p>",
  "data.bin": Buffer.from("0123456789"),
  "big.txt": BIG,
  "app.yaml": "runtime: static\n",
};

test("/ and folders serve index.html; a folder without a slash redirects", async (t) => {
  const s = await serveSite(t, SITE);
  const root = await s.get("/");
  assert.equal(root.status, 200);
  assert.equal(root.headers["content-type"], "text/html; charset=utf-8");
  assert.equal(root.body.toString(), PAGE);
  assert.equal((await s.get("/docs/")).body.toString(), "<p>docs</p>");
  const redirect = await s.get("/docs?x=1");
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, "/docs/?x=1");
  assert.equal((await s.get("/css/../index.html")).body.toString(), PAGE);
  assert.equal((await s.get("/%63ss/app.css")).body.toString(), CSS);
});

test("missing files get a small 404 page; app.yaml is never served; traversal is refused", async (t) => {
  const s = await serveSite(t, SITE);
  const missing = await s.get("/nope.html");
  assert.equal(missing.status, 404);
  assert.match(missing.body.toString(), /404 Not Found/);
  assert.equal((await s.get("/app.yaml")).status, 404);
  assert.equal((await s.get("/constructor")).status, 404);
  assert.equal((await s.get("/../../etc/passwd")).status, 400);
  assert.equal((await s.get("/%E0%A4%A")).status, 400);
});

test("the site's own 404.html is served with status 404", async (t) => {
  const s = await serveSite(t, { ...SITE, "404.html": "<h1>custom missing</h1>" });
  const missing = await s.get("/nope");
  assert.equal(missing.status, 404);
  assert.equal(missing.body.toString(), "<h1>custom missing</h1>");
  assert.equal(missing.headers["cache-control"], "no-cache");
});

test("ETag and If-None-Match give 304; Cache-Control defaults to App Engine's 10 minutes", async (t) => {
  const s = await serveSite(t, SITE);
  const first = await s.get("/css/app.css");
  assert.equal(first.status, 200);
  assert.match(first.headers.etag!, /^"[0-9a-f]{32}"$/);
  assert.equal(first.headers["cache-control"], "public, max-age=600");
  assert.equal(first.headers["accept-ranges"], "bytes");
  const again = await s.get("/css/app.css", { "if-none-match": first.headers.etag! });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  assert.equal(again.headers.etag, first.headers.etag);
  assert.equal((await s.get("/css/app.css", { "if-none-match": `"other", W/${first.headers.etag}` })).status, 304);
  assert.equal((await s.get("/css/app.css", { "if-none-match": '"other"' })).status, 200);
});

test("default_expiration sets max-age", async (t) => {
  const s = await serveSite(t, SITE, { defaultExpiration: "1d 2h" });
  assert.equal((await s.get("/")).headers["cache-control"], `public, max-age=${26 * 3600}`);
});

test("Range gives 206 with Content-Range, 416 when unsatisfiable, for cached and streamed files", async (t) => {
  const s = await serveSite(t, SITE);
  const part = await s.get("/data.bin", { range: "bytes=2-5" });
  assert.equal(part.status, 206);
  assert.equal(part.headers["content-range"], "bytes 2-5/10");
  assert.equal(part.body.toString(), "2345");
  assert.equal((await s.get("/data.bin", { range: "bytes=-3" })).body.toString(), "789");
  assert.equal((await s.get("/data.bin", { range: "bytes=7-" })).body.toString(), "789");
  const bad = await s.get("/data.bin", { range: "bytes=10-20" });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers["content-range"], "bytes */10");
  assert.equal((await s.get("/data.bin", { range: "bytes=0-1,4-5" })).status, 200, "multiple ranges: the whole file");
  const bigPart = await s.get("/big.txt", { range: "bytes=1000000-1000009" });
  assert.equal(bigPart.status, 206);
  assert.deepEqual(bigPart.body, BIG.subarray(1000000, 1000010));
  const stale = await s.get("/data.bin", { range: "bytes=2-5", "if-range": '"old"' });
  assert.equal(stale.status, 200, "If-Range with another ETag sends the whole file");
  // A Range request gets identity bytes even when the client accepts compression.
  const ranged = await s.get("/css/app.css", { range: "bytes=0-3", "accept-encoding": "br, gzip" });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers["content-encoding"], undefined);
  assert.equal(ranged.body.toString(), "body");
});

test("Accept-Encoding selects the precompressed br or gzip copy, with Vary", async (t) => {
  const s = await serveSite(t, SITE);
  const br = await s.get("/css/app.css", { "accept-encoding": "gzip, deflate, br" });
  assert.equal(br.headers["content-encoding"], "br");
  assert.equal(br.headers.vary, "Accept-Encoding");
  assert.equal(Number(br.headers["content-length"]), br.body.length);
  assert.equal(brotliDecompressSync(br.body).toString(), CSS);
  const gz = await s.get("/css/app.css", { "accept-encoding": "gzip" });
  assert.equal(gz.headers["content-encoding"], "gzip");
  assert.equal(gunzipSync(gz.body).toString(), CSS);
  assert.notEqual(gz.headers.etag, br.headers.etag, "each encoding has its own strong ETag");
  assert.equal((await s.get("/css/app.css", { "accept-encoding": "gzip", "if-none-match": gz.headers.etag! })).status, 304);
  const refused = await s.get("/css/app.css", { "accept-encoding": "br;q=0, gzip;q=0.5" });
  assert.equal(refused.headers["content-encoding"], "gzip");
  const plain = await s.get("/css/app.css");
  assert.equal(plain.headers["content-encoding"], undefined);
  assert.equal(plain.headers.vary, "Accept-Encoding");
  assert.equal(plain.body.toString(), CSS);
  const png = await s.get("/data.bin", { "accept-encoding": "br" });
  assert.equal(png.headers["content-encoding"], undefined);
  assert.equal(png.headers.vary, undefined);
});

test("a large file is streamed whole", async (t) => {
  const s = await serveSite(t, SITE);
  const big = await s.get("/big.txt");
  assert.equal(big.status, 200);
  assert.equal(big.body.length, BIG.length);
  assert.ok(big.body.equals(BIG));
});

test("HEAD sends headers only; other methods get 405 with Allow", async (t) => {
  const s = await serveSite(t, SITE);
  const head = await s.get("/css/app.css", {}, "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-length"], String(CSS.length));
  assert.equal(head.body.length, 0);
  const headBig = await s.get("/big.txt", {}, "HEAD");
  assert.equal(headBig.headers["content-length"], String(BIG.length));
  const post = await s.get("/", {}, "POST");
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, "GET, HEAD");
});
