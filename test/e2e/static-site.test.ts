import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile, mkdir, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { REPO, TestDaemon } from "./harness.js";
import { craftTarGz } from "./tar-craft.js";

const FIXTURE = join(REPO, "test", "fixtures", "apps", "static");
const HOST = "site.localhost";
let d: TestDaemon;
let work: string;

/** A copy of the fixture whose index.html names `marker`. */
async function siteDir(marker: string): Promise<string> {
  const dir = join(work, marker, "site");
  await cp(FIXTURE, dir, { recursive: true });
  const index = join(dir, "site", "index.html");
  await writeFile(index, (await readFile(index, "utf8")).replace("VERSION_MARKER", marker));
  return dir;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-static-"));
  d = await TestDaemon.start();
  await d.cliOk(["deploy", await siteDir("v1"), "--version", "v1"]);
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
});

test("the deployed site answers at its app URL and its version URL", async () => {
  const r = await d.request(HOST, "/index.html");
  assert.equal(r.status, 200);
  assert.match(r.text, /v1/);
  assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
  assert.equal((await d.request(`v1-dot-${HOST}`, "/index.html")).status, 200);
});

test("handlers: static_dir with expiration and http_headers, static_files with regex captures", async () => {
  const css = await d.request(HOST, "/assets/style.css");
  assert.equal(css.status, 200);
  assert.equal(css.headers["x-fixture"], "assets");
  assert.equal(css.headers["cache-control"], `public, max-age=${4 * 86400 + 5 * 3600}`);
  assert.match(css.headers["content-type"] ?? "", /^text\/css/);
  const about = await d.request(HOST, "/pages/about.html");
  assert.equal(about.status, 200);
  assert.match(about.text, /About page/);
  assert.equal(about.headers["cache-control"], "public, max-age=3600");
});

test("a new version with --no-promote gets no traffic but answers at its own URL", async () => {
  await d.cliOk(["deploy", await siteDir("v2"), "--version", "v2", "--no-promote"]);
  assert.match((await d.request(HOST, "/index.html")).text, /v1/);
  assert.match((await d.request(`v2-dot-${HOST}`, "/index.html")).text, /v2/);
  const list = JSON.parse(await d.cliOk(["versions", "site", "--json"])) as Array<{ version: string; traffic: number; status: string; url: string; digest: string; sizeBytes: number }>;
  const byName = Object.fromEntries(list.map((v) => [v.version, v]));
  assert.equal(byName.v1!.traffic, 1);
  assert.equal(byName.v2!.traffic, 0);
  assert.equal(byName.v2!.status, "ready");
  assert.match(byName.v2!.digest, /^sha256:[0-9a-f]{64}$/);
  assert.ok(byName.v2!.sizeBytes > 0);
  assert.match(byName.v2!.url, /^http:\/\/v2-dot-site\.localhost:\d+$/);
  const table = await d.cliOk(["versions", "site"]);
  assert.match(table, /VERSION\s+STATUS\s+TRAFFIC/);
});

test("a 70/30 random split lands within ±5% over 1,000 requests", async () => {
  await d.cliOk(["traffic", "set", "site", "--splits", "v1=0.7,v2=0.3"]);
  let v1 = 0;
  for (let i = 0; i < 1000; i++) {
    const r = await d.request(HOST, "/index.html");
    if (r.text.includes("v1")) v1++;
  }
  assert.ok(v1 >= 650 && v1 <= 750, `v1 got ${v1} of 1000`);
});

test("a cookie split is sticky: one client keeps its version, and the cookie is set once", async () => {
  await d.cliOk(["traffic", "set", "site", "--splits", "v1=0.5,v2=0.5", "--split-by", "cookie"]);
  const first = await d.request(HOST, "/index.html");
  const setCookie = first.headers["set-cookie"]?.[0] ?? "";
  const m = /GOOGAPPUID=(\d+)/.exec(setCookie);
  assert.ok(m, `expected a GOOGAPPUID cookie, got ${setCookie}`);
  const version = first.text.includes("v1") ? "v1" : "v2";
  for (let i = 0; i < 30; i++) {
    const r = await d.request(HOST, "/index.html", { headers: { cookie: `GOOGAPPUID=${m[1]}` } });
    assert.ok(r.text.includes(version), "a sticky client switched versions");
    assert.equal(r.headers["set-cookie"], undefined);
  }
  // Both versions are reachable by some cookie value.
  const low = await d.request(HOST, "/index.html", { headers: { cookie: "GOOGAPPUID=10" } });
  const high = await d.request(HOST, "/index.html", { headers: { cookie: "GOOGAPPUID=990" } });
  assert.notEqual(low.text.includes("v1"), high.text.includes("v1"));
});

test("traffic migrate sends everything to one version", async () => {
  await d.cliOk(["traffic", "migrate", "site", "v2"]);
  for (let i = 0; i < 20; i++) assert.match((await d.request(HOST, "/index.html")).text, /v2/);
});

test("rollback restores the split before the last change, without a rebuild", async () => {
  await d.cliOk(["rollback", "site"]);
  const t = JSON.parse(await d.cliOk(["traffic", "get", "site", "--json"])) as { allocations: Record<string, number>; splitBy: string };
  assert.deepEqual(t.allocations, { v1: 0.5, v2: 0.5 });
  assert.equal(t.splitBy, "cookie");
  await d.cliOk(["traffic", "migrate", "site", "v2"]);
});

test("ETag → 304, Range → 206, gzip and brotli for text", async () => {
  const full = await d.request(HOST, "/assets/big.txt");
  assert.equal(full.status, 200);
  const etag = full.headers.etag!;
  assert.ok(etag);
  assert.equal((await d.request(HOST, "/assets/big.txt", { headers: { "if-none-match": etag } })).status, 304);
  const part = await d.request(HOST, "/assets/big.txt", { headers: { range: "bytes=10-19" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers["content-range"], `bytes 10-19/${full.body.length}`);
  assert.deepEqual(part.body, full.body.subarray(10, 20));
  const gz = await d.request(HOST, "/assets/big.txt", { headers: { "accept-encoding": "gzip" } });
  assert.equal(gz.headers["content-encoding"], "gzip");
  assert.ok(gz.body.length < full.body.length / 2);
  assert.deepEqual(gunzipSync(gz.body), full.body);
  const br = await d.request(HOST, "/assets/big.txt", { headers: { "accept-encoding": "br, gzip" } });
  assert.equal(br.headers["content-encoding"], "br");
});

test("404s: a missing file, and an unknown host that the page names", async () => {
  assert.equal((await d.request(HOST, "/assets/missing.css")).status, 404);
  const unknown = await d.request("nothing-here.localhost", "/");
  assert.equal(unknown.status, 404);
  assert.match(unknown.text, /nothing-here\.localhost/);
});

test("a static site without app.yaml serves index.html for directories and its own 404 page", async () => {
  const dir = join(work, "plain");
  await mkdir(join(dir, "docs"), { recursive: true });
  await writeFile(join(dir, "index.html"), "<p>plain home</p>");
  await writeFile(join(dir, "docs", "index.html"), "<p>plain docs</p>");
  await writeFile(join(dir, "404.html"), "<p>plain custom 404</p>");
  await d.cliOk(["deploy", dir, "--version", "p1"]);
  assert.match((await d.request("plain.localhost", "/")).text, /plain home/);
  assert.match((await d.request("plain.localhost", "/docs/")).text, /plain docs/);
  const nf = await d.request("plain.localhost", "/nope");
  assert.equal(nf.status, 404);
  assert.match(nf.text, /plain custom 404/);
});

test("the API wants its token, and publishes its OpenAPI document", async () => {
  const noToken = await d.api("GET", "/v1/apps", { token: null });
  assert.equal(noToken.status, 401);
  const err = JSON.parse(noToken.text) as { error: { code: string; message: string } };
  assert.equal(err.error.code, "UNAUTHORIZED");
  const doc = JSON.parse((await d.api("GET", "/v1/openapi.json", { token: null })).text) as { openapi: string; paths: Record<string, unknown> };
  assert.equal(doc.openapi, "3.1.0");
  assert.ok(doc.paths["/v1/apps/{app}/traffic"]);
});

for (const [name, entries] of [
  ["path traversal", [{ name: "../escape.txt", type: "0", body: "x" }]],
  ["an absolute path", [{ name: "/etc/evil", type: "0", body: "x" }]],
  ["a symlink escaping the root", [{ name: "index.html", type: "0", body: "x" }, { name: "link", type: "2", linkname: "../../../../etc/passwd" }]],
  ["a hardlink escaping the root", [{ name: "hard", type: "1", linkname: "/etc/passwd" }]],
  ["a device file", [{ name: "index.html", type: "0", body: "x" }, { name: "dev", type: "3" }]],
  ["a fifo", [{ name: "index.html", type: "0", body: "x" }, { name: "pipe", type: "6" }]],
] as const) {
  test(`an upload with ${name} is refused, and nothing of it is served`, async () => {
    const r = await d.api("POST", "/v1/apps/evil/versions?version=e1", {
      body: craftTarGz(entries as never),
      headers: { "content-type": "application/gzip" },
    });
    const lines = r.text.trim().split("\n").map((l) => JSON.parse(l) as { type: string; error?: { code: string; message: string } });
    const last = lines.at(-1)!;
    assert.equal(last.type, "error");
    assert.equal(last.error!.code, "INVALID_ARCHIVE");
    assert.ok(last.error!.message.length > 10);
    assert.equal((await d.request("evil.localhost", "/")).status, 404);
  });
}

test("a malformed app.yaml is refused with its line", async () => {
  const dir = join(work, "badyaml");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "index.html"), "hi");
  await writeFile(join(dir, "app.yaml"), "runtime: static\nhandlers:\n  - url: /x\n    static_dir: 42\n");
  const r = await d.cli(["deploy", dir]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /app\.yaml:4/);
  assert.match(r.stderr, /static_dir/);
});

test("a symlink inside the folder pointing outside it is refused by the CLI's archive or the server", async () => {
  const dir = join(work, "linky");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "index.html"), "hi");
  await symlink("/etc/passwd", join(dir, "passwd"));
  const r = await d.cli(["deploy", dir]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /passwd/);
});

test("logs, events and apps list what happened", async () => {
  const logs = await d.cliOk(["logs", "site", "-n", "2000"]);
  assert.match(logs, /GET \/index\.html 200/);
  const events = await d.cliOk(["events", "--app", "site"]);
  assert.match(events, /traffic\.changed/);
  assert.match(events, /version\.deployed/);
  const apps = JSON.parse(await d.cliOk(["apps", "--json"])) as Array<{ name: string }>;
  assert.ok(apps.some((a) => a.name === "site"));
});

test("after kill -9 and strata up, every app, version and route is back", async () => {
  await d.kill9();
  await d.up();
  assert.match((await d.request(HOST, "/index.html")).text, /v2/);
  assert.match((await d.request(`v1-dot-${HOST}`, "/index.html")).text, /v1/);
  assert.match((await d.request("plain.localhost", "/")).text, /plain home/);
});

test("apps delete needs --yes without a terminal, then removes the app", async () => {
  const refused = await d.cli(["apps", "delete", "plain"]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /--yes/);
  await d.cliOk(["apps", "delete", "plain", "--yes"]);
  assert.equal((await d.request("plain.localhost", "/")).status, 404);
});
