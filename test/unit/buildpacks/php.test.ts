import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { detectAppKind } from "../../../src/build/detect.js";
import { askedPhpVersion, checkVendored } from "../../../src/build/php/index.js";
import { fpmConf, frontController, nginxConf } from "../../../src/build/php/serving.js";
import { StrataError } from "../../../src/errors.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "fixtures", "apps");
const EXAMPLE = join(import.meta.dirname, "..", "..", "..", "examples", "php-app");

test("PHP apps are detected from composer.json or index.php", async () => {
  assert.equal(await detectAppKind(join(FIXTURES, "php-vendored"), undefined), "php");
  assert.equal(await detectAppKind(EXAMPLE, { runtime: "php84" }), "php");
});

test("runtime ids name the PHP version", () => {
  assert.equal(askedPhpVersion("php84"), "8.4");
  assert.equal(askedPhpVersion("php82"), "8.2");
  assert.equal(askedPhpVersion(undefined), undefined);
});

test("vendored Composer packages pass; missing ones fail naming them and `composer install`", async () => {
  assert.deepEqual(await checkVendored(join(FIXTURES, "php-vendored")), ["acme/greeter"]);
  assert.deepEqual(await checkVendored(EXAMPLE), [], "no composer.json: nothing to check");
  await assert.rejects(checkVendored(join(FIXTURES, "php-missing-vendor")), (err: unknown) => {
    assert.ok(err instanceof StrataError);
    assert.equal(err.code, "BUILD_FAILED");
    assert.match(err.message, /acme\/greeter is not in vendor\//);
    assert.match(err.message, /composer install/);
    return true;
  });
});

test("nginx serves the front controller's folder and sends the rest to PHP; vendor/ is hidden when the app root is served", () => {
  const pub = nginxConf(frontController("public/index.php"));
  assert.match(pub, /root \/app\/public;/);
  assert.match(pub, /fastcgi_param SCRIPT_FILENAME \/app\/public\/index\.php;/);
  assert.match(pub, /try_files \$uri \/\.strata-front\?\$args;/);
  assert.doesNotMatch(pub, /vendor/);
  const root = nginxConf(frontController("index.php"));
  assert.match(root, /root \/app;/);
  assert.match(root, /location ~ \^\/\(vendor\//);
  assert.match(fpmConf(), /^php_admin_value\[session\.save_path\] = \/tmp$/m, "sessions are writable under every driver");
  assert.match(fpmConf(), /^clear_env = no$/m, "env_variables reach PHP");
});
