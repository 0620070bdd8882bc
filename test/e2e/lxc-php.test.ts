import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureBaseImages } from "../support/base-images.js";
import { REPO, TestDaemon } from "./harness.js";

let d: TestDaemon;
let unavailableReason: string | undefined;

before(async () => {
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("lxc");
  if (!unavailableReason) await ensureBaseImages(["php", "php84"]);
});

after(async () => {
  await d?.stop();
});

test("the PHP example runs in LXC behind nginx + php-fpm: static files, a form post and a session round trip", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.cli(["deploy", join(REPO, "examples", "php-app"), "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  const versions = JSON.parse(await d.cliOk(["versions", "php-app", "--json"])) as Array<{ driver: string; runs?: string }>;
  assert.equal(versions[0]!.driver, "lxc", "PHP's default sandbox is lxc");

  const home = await d.request("php-app.localhost", "/");
  assert.equal(home.status, 200, home.text);
  assert.match(home.text, /Hello from PHP on Strata \(service php-app, version v1, PHP 8\.4\.\d+\)/);
  assert.match(home.text, /who are you\?/);

  // strata exec through the lxc driver (lxc-attach): the instance's environment, stdout, stderr, exit code.
  const ran = await d.cli(["exec", "php-app", "--", "/bin/sh", "-c", "echo service=$GAE_SERVICE; ls /etc/php; echo oops >&2; exit 4"]);
  assert.equal(ran.code, 4, ran.stderr);
  assert.match(ran.stdout, /^service=php-app\n8\.4\n$/);
  assert.match(ran.stderr, /oops/);

  const css = await d.request("php-app.localhost", "/static/style.css");
  assert.equal(css.status, 200);
  assert.match(String(css.headers["content-type"]), /^text\/css/, "static files come from nginx");
  assert.equal((await d.request("php-app.localhost", "/nowhere")).status, 404, "unknown paths reach the router in PHP");

  const posted = await d.request("php-app.localhost", "/name", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "name=Ada+Lovelace",
  });
  assert.equal(posted.status, 303, posted.text);
  assert.equal(posted.headers.location, "/");
  // php.ini beside the app is honoured: it names the session cookie.
  const cookie = (posted.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]!).find((c) => c.startsWith("PHPAPPSESSID="));
  assert.ok(cookie, `a PHPAPPSESSID cookie is set (php.ini's session.name): ${JSON.stringify(posted.headers["set-cookie"])}`);

  const again = await d.request("php-app.localhost", "/", { headers: { cookie } });
  assert.match(again.text, /welcome back, Ada Lovelace/);
  const who = JSON.parse((await d.request("php-app.localhost", "/whoami", { headers: { cookie } })).text) as { name: string; visits: number; session_name: string };
  assert.deepEqual(who, { name: "Ada Lovelace", visits: 3, session_name: "PHPAPPSESSID" });

  let logs = "";
  for (let i = 0; i < 50 && !/saved name for session/.test(logs); i++) {
    await new Promise((res) => setTimeout(res, 200));
    logs = await d.cliOk(["logs", "php-app", "-n", "200"]);
  }
  assert.match(logs, /\[stderr\].*saved name for session/, `PHP's error_log reaches strata logs:\n${logs}`);
});

test("a PHP app with a vendored Composer package is detected from composer.json and autoloads it", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.cli(["deploy", join(REPO, "test", "fixtures", "apps", "php-vendored"), "--app", "phpvendored", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /Composer packages from vendor\/: acme\/greeter/);
  const res = await d.request("phpvendored.localhost", "/?name=Strata");
  assert.equal(res.status, 200, res.text);
  assert.equal(res.text, "Hello, Strata, from a vendored Composer package\n");
  // The app root is the document root here: vendor/ is not sent as files.
  const vendor = await d.request("phpvendored.localhost", "/vendor/composer/installed.json");
  assert.doesNotMatch(vendor.text, /acme\/greeter/);
  const versions = JSON.parse(await d.cliOk(["versions", "phpvendored", "--json"])) as Array<{ driver: string; runtime: string }>;
  assert.equal(versions[0]!.driver, "lxc");
  assert.equal(versions[0]!.runtime, "php82");
});

test("a composer.json whose packages are not in vendor/ fails the build, naming what to run", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.cli(["deploy", join(REPO, "test", "fixtures", "apps", "php-missing-vendor"), "--app", "phpmissing", "--version", "v1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /acme\/greeter is not in vendor\//);
  assert.match(r.stderr, /composer install/);
});
