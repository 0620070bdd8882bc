import assert from "node:assert/strict";
import { test } from "node:test";
import { compileHandlers, matchHandler, type Handler } from "../../../src/router/static/handlers.js";
import { StrataError } from "../../../src/errors.js";
import { serveSite } from "./serve-helpers.js";

const HANDLERS: Handler[] = [
  { url: "/", static_files: "www/index.html", upload: "www/index\\.html" },
  { url: "/stylesheets", static_dir: "www/css", expiration: "1h", http_headers: { "X-Frame-Options": "DENY", "Access-Control-Allow-Origin": "*" } },
  { url: "/images/(.*)\\.(png|gif)$", static_files: "www/img/\\1.\\2", upload: "www/img/.*\\.(png|gif)$" },
  { url: "/data/(?<name>\\w+)", static_files: "www/data/\\1.dat", mime_type: "application/json" },
  { url: "/secure/.*", static_files: "www/index.html", secure: "always", redirect_http_response_code: 301 },
  { url: "/api/.*", script: "auto" },
  { url: "/(.*\\.html)", static_files: "www/\\1", upload: "www/.*\\.html" },
];

test("matchHandler tries handlers in order with the url anchored to the whole path", () => {
  const c = compileHandlers(HANDLERS);
  assert.equal(matchHandler(c, "/")?.file, "www/index.html");
  assert.equal(matchHandler(c, "/index"), null, "anchored: /index is not /");
  const img = matchHandler(c, "/images/logo.png");
  assert.deepEqual(img?.captures, ["logo", "png"]);
  assert.equal(img?.file, "www/img/logo.png");
  assert.equal(matchHandler(c, "/data/users")?.file, "www/data/users.dat", "named groups work");
  const api = matchHandler(c, "/api/v1/things");
  assert.equal(api?.forward, true);
  assert.equal(api?.file, undefined);
  assert.equal(matchHandler(c, "/stylesheets/site.css")?.file, "www/css/site.css");
  assert.equal(matchHandler(c, "/stylesheets/sub/a.css")?.file, "www/css/sub/a.css");
  assert.equal(matchHandler(c, "/stylesheets/")?.file, undefined);
  assert.equal(matchHandler(c, "/stylesheets")?.file, undefined, "the folder itself is no file");
  assert.equal(matchHandler(c, "/stylesheetsX/a.css"), null, "a static_dir prefix must end at a slash");
  assert.equal(matchHandler(c, "/about.html")?.file, "www/about.html");
  assert.equal(matchHandler(c, "/x.txt"), null);
});

test("a static_files target outside `upload` or climbing out is no file", () => {
  const c = compileHandlers([
    { url: "/u/(.*)", static_files: "pub/\\1", upload: "pub/.*\\.txt" },
    { url: "/v/(.*)", static_files: "pub/\\1/../../\\1" },
  ]);
  assert.equal(matchHandler(c, "/u/a.txt")?.file, "pub/a.txt");
  assert.equal(matchHandler(c, "/u/a.yaml")?.file, undefined);
  assert.equal(matchHandler(c, "/u/a.yaml")?.index, 0);
  assert.equal(matchHandler(c, "/v/x")?.file, "x");
});

test("an invalid url regex is INVALID_CONFIG naming the handler", () => {
  assert.throws(
    () => compileHandlers([{ url: "/(unclosed", script: "auto" }]),
    (err: StrataError) => err.code === "INVALID_CONFIG" && /handlers\[0\]\.url/.test(err.message),
  );
});

const FILES = {
  "www/index.html": "<p>home</p>",
  "www/about.html": "<p>about</p>",
  "www/css/site.css": "body{}",
  "www/img/logo.png": Buffer.from([0x89, 0x50, 0x4e, 0x47]),
  "www/data/users.dat": '{"users":[]}',
  "secret.txt": "not served",
};

test("served with handlers: captures, static_dir, mime_type, expiration, http_headers", async (t) => {
  const s = await serveSite(t, FILES, { handlers: HANDLERS, defaultExpiration: "5m" });
  const home = await s.get("/");
  assert.equal(home.body.toString(), "<p>home</p>");
  assert.equal(home.headers["cache-control"], "public, max-age=300");
  const css = await s.get("/stylesheets/site.css");
  assert.equal(css.body.toString(), "body{}");
  assert.equal(css.headers["content-type"], "text/css; charset=utf-8");
  assert.equal(css.headers["cache-control"], "public, max-age=3600");
  assert.equal(css.headers["x-frame-options"], "DENY");
  assert.equal(css.headers["access-control-allow-origin"], "*");
  const png = await s.get("/images/logo.png");
  assert.equal(png.headers["content-type"], "image/png");
  assert.equal(png.body.length, 4);
  const data = await s.get("/data/users");
  assert.equal(data.headers["content-type"], "application/json");
  assert.equal(data.body.toString(), '{"users":[]}');
  assert.equal((await s.get("/about.html")).body.toString(), "<p>about</p>");
  assert.equal((await s.get("/stylesheets/../secret.txt")).status, 404, "normalised before matching");
  assert.equal((await s.get("/images/missing.png")).status, 404);
  assert.equal((await s.get("/nothing-matches")).status, 404);
});

test("script handlers and unmatched paths (for apps with code) are forwarded", async (t) => {
  const s = await serveSite(t, FILES, { handlers: HANDLERS, unmatched: "forward" });
  const api = await s.get("/api/users", {}, "POST");
  assert.equal(api.status, 299);
  assert.equal((await s.get("/nothing-matches")).status, 299);
  assert.equal((await s.get("/stylesheets/site.css", {}, "DELETE")).status, 405);
});

test("secure: always redirects plain http to https with the configured code", async (t) => {
  const s = await serveSite(t, FILES, { handlers: HANDLERS });
  const r = await s.get("/secure/page?q=1", { host: "app.localhost" });
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, "https://app.localhost/secure/page?q=1");
  const trusted = await serveSite(t, FILES, { handlers: HANDLERS, isSecure: (req) => req.headers["x-forwarded-proto"] === "https" });
  const ok = await trusted.get("/secure/page", { "x-forwarded-proto": "https" });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.toString(), "<p>home</p>");
});
