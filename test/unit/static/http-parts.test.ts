import assert from "node:assert/strict";
import { test } from "node:test";
import { ByteCache } from "../../../src/router/static/byte-cache.js";
import { EncodingNegotiator, etagMatches, normalizeUrlPath, parseRange } from "../../../src/router/static/http-parts.js";

test("normalizeUrlPath decodes, resolves dots, keeps a trailing slash, refuses climbing out", () => {
  assert.equal(normalizeUrlPath("/a/b.html"), "/a/b.html");
  assert.equal(normalizeUrlPath("/a//b/./c/../d/"), "/a/b/d/");
  assert.equal(normalizeUrlPath("/a%20b"), "/a b");
  assert.equal(normalizeUrlPath("/a/.."), "/");
  assert.equal(normalizeUrlPath("/.well-known/x"), "/.well-known/x");
  assert.equal(normalizeUrlPath("/../x"), undefined);
  assert.equal(normalizeUrlPath("/%2e%2e/x"), undefined);
  assert.equal(normalizeUrlPath("/%zz"), undefined);
  assert.equal(normalizeUrlPath("/a%00b"), undefined);
  assert.equal(normalizeUrlPath("relative"), undefined);
});

test("parseRange", () => {
  assert.deepEqual(parseRange("bytes=0-0", 10), { start: 0, end: 0 });
  assert.deepEqual(parseRange("bytes=5-100", 10), { start: 5, end: 9 });
  assert.deepEqual(parseRange("bytes=-4", 10), { start: 6, end: 9 });
  assert.deepEqual(parseRange("bytes=-40", 10), { start: 0, end: 9 });
  assert.equal(parseRange("bytes=10-", 10), "unsatisfiable");
  assert.equal(parseRange("bytes=-0", 10), "unsatisfiable");
  assert.equal(parseRange("bytes=0-", 0), "unsatisfiable");
  assert.equal(parseRange("bytes=5-2", 10), undefined);
  assert.equal(parseRange("bytes=1-2,4-5", 10), undefined);
  assert.equal(parseRange("items=1-2", 10), undefined);
  assert.equal(parseRange("bytes=a-b", 10), undefined);
});

test("etagMatches compares weakly over a list", () => {
  assert.equal(etagMatches('"a"', '"a"'), true);
  assert.equal(etagMatches("*", '"a"'), true);
  assert.equal(etagMatches('"b", "a"', '"a"'), true);
  assert.equal(etagMatches('W/"a"', '"a"'), true);
  assert.equal(etagMatches('"b"', '"a"'), false);
});

test("EncodingNegotiator honours q-values and what exists", () => {
  const n = new EncodingNegotiator();
  assert.equal(n.pick(undefined, true, true), undefined);
  assert.equal(n.pick("gzip, deflate, br", true, true), "br");
  assert.equal(n.pick("gzip, deflate, br", false, true), "gzip");
  assert.equal(n.pick("br;q=0.5, gzip", true, true), "gzip");
  assert.equal(n.pick("br;q=0, gzip;q=0", true, true), undefined);
  assert.equal(n.pick("*", true, true), "br");
  assert.equal(n.pick("identity", true, true), undefined);
  assert.equal(n.pick("BR", true, false), "br");
});

test("ByteCache evicts least recently used entries past its byte budget", () => {
  const c = new ByteCache({ maxBytes: 10, maxEntryBytes: 6 });
  c.set("a", Buffer.alloc(4));
  c.set("b", Buffer.alloc(4));
  c.get("a");
  c.set("c", Buffer.alloc(4));
  assert.ok(c.get("a"));
  assert.equal(c.get("b"), undefined);
  assert.ok(c.get("c"));
  assert.equal(c.bytes, 8);
  c.set("huge", Buffer.alloc(7));
  assert.equal(c.get("huge"), undefined);
});
