import assert from "node:assert/strict";
import { test } from "node:test";
import { appNameFor } from "../../../src/cli/app-name.js";

const wrangler = { file: "wrangler.toml", name: "from-wrangler" };

test("the app name: --app, then app.yaml service, then the wrangler name, then the folder", () => {
  assert.equal(appNameFor("/src/My Folder", { app: "from-flag", service: "from-yaml", wrangler }), "from-flag");
  assert.equal(appNameFor("/src/My Folder", { service: "from-yaml", wrangler }), "from-yaml");
  assert.equal(appNameFor("/src/My Folder", { wrangler }), "from-wrangler");
  assert.equal(appNameFor("/src/My Folder", { wrangler: { file: "wrangler.json" } }), "my-folder", "a wrangler file without a name");
  assert.equal(appNameFor("/src/My Folder", {}), "my-folder");
});

test("a wrangler name that cannot name an app is refused with what to change", () => {
  assert.throws(
    () => appNameFor("/src/app", { wrangler: { file: "wrangler.jsonc", name: "My_Worker" } }),
    (err: Error & { code?: string }) =>
      err.code === "INVALID_CONFIG" && /^wrangler\.jsonc: name "My_Worker" cannot name a Strata app \(an app name is a DNS label/.test(err.message) && /change it, set `service:` in app\.yaml, or pass --app NAME/.test(err.message),
  );
  // Stronger sources make an unusable wrangler name irrelevant.
  assert.equal(appNameFor("/src/app", { service: "ok", wrangler: { file: "wrangler.toml", name: "My_Worker" } }), "ok");
});
