import assert from "node:assert/strict";
import { test } from "node:test";
import { fromUrlResult, isTextBody, toUrlEvent } from "../../../src/functions/url-event.js";

const ctx = { functionName: "f", domainName: "f.fn.localhost", requestId: "rid", now: new Date(Date.UTC(2020, 2, 12, 19, 3, 58)) };

test("a request becomes a payload format 2.0 event: raw path and query, joined multi-values, cookies apart, lowercased headers", () => {
  const e = toUrlEvent(
    { method: "GET", url: "/a%20b/c?x=1&x=2&y=", headers: { Cookie: "s=1; t=2", "X-Multi": ["a", "b"], "user-agent": "curl/8" }, sourceIp: "127.0.0.1", body: Buffer.alloc(0) },
    ctx,
  );
  assert.equal(e.version, "2.0");
  assert.equal(e.routeKey, "$default");
  assert.equal(e.rawPath, "/a%20b/c");
  assert.equal(e.rawQueryString, "x=1&x=2&y=");
  assert.deepEqual(e.queryStringParameters, { x: "1,2", y: "" });
  assert.deepEqual(e.cookies, ["s=1", "t=2"]);
  assert.deepEqual(e.headers, { "x-multi": "a,b", "user-agent": "curl/8" });
  assert.equal(e.requestContext.http.path, "/a b/c");
  assert.equal(e.requestContext.http.userAgent, "curl/8");
  assert.equal(e.requestContext.time, "12/Mar/2020:19:03:58 +0000");
  assert.equal(e.requestContext.timeEpoch, 1584039838000);
  assert.equal(e.body, undefined);
  assert.equal(e.isBase64Encoded, false);
});

test("text bodies travel as text, others base64-encoded", () => {
  const json = toUrlEvent({ method: "POST", url: "/", headers: { "content-type": "application/json" }, sourceIp: "", body: Buffer.from('{"a":1}') }, ctx);
  assert.deepEqual([json.body, json.isBase64Encoded], ['{"a":1}', false]);
  const bin = toUrlEvent({ method: "POST", url: "/", headers: { "content-type": "image/png" }, sourceIp: "", body: Buffer.from([0, 255]) }, ctx);
  assert.deepEqual([bin.body, bin.isBase64Encoded], ["AP8=", true]);
  assert.equal(isTextBody("text/plain; charset=utf-8"), true);
  assert.equal(isTextBody("application/vnd.api+json"), true);
  assert.equal(isTextBody(undefined), false);
});

test("Lambda's response format: statusCode, headers, cookies, base64 body; anything else is a JSON 200", () => {
  const r = fromUrlResult(Buffer.from(JSON.stringify({ statusCode: 404, headers: { "X-A": "1" }, cookies: ["k=v"], body: Buffer.from("hi").toString("base64"), isBase64Encoded: true })));
  assert.deepEqual({ ...r, body: r.body.toString() }, { statusCode: 404, headers: { "x-a": "1" }, cookies: ["k=v"], body: "hi" });
  const plain = fromUrlResult(Buffer.from('{"message":"hello"}'));
  assert.deepEqual({ ...plain, body: plain.body.toString() }, { statusCode: 200, headers: { "content-type": "application/json" }, cookies: [], body: '{"message":"hello"}' });
  const str = fromUrlResult(Buffer.from('"just text"'));
  assert.equal(str.statusCode, 200);
  assert.equal(str.body.toString(), '"just text"');
});
