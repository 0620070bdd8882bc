import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAppYaml } from "../../../src/config/index.js";
import { oneIssue } from "./config-error.js";

describe("app.yaml readiness_check:", () => {
  it("reads app_start_timeout_sec (App Engine flexible's key); it may be left out", () => {
    assert.deepEqual(parseAppYaml("runtime: java17\nreadiness_check:\n  app_start_timeout_sec: 600\n").spec.readiness_check, { app_start_timeout_sec: 600 });
    assert.deepEqual(parseAppYaml("runtime: java17\nreadiness_check:\n  app_start_timeout_sec: 1\n").spec.readiness_check, { app_start_timeout_sec: 1 });
    assert.deepEqual(parseAppYaml("runtime: java17\nreadiness_check:\n  app_start_timeout_sec: 1800\n").spec.readiness_check, { app_start_timeout_sec: 1800 });
    assert.equal(parseAppYaml("runtime: java17\n").spec.readiness_check, undefined);
  });

  it("refuses a value out of 1..1800, with its line and the bound", () => {
    const low = oneIssue(() => parseAppYaml("runtime: java17\nreadiness_check:\n  app_start_timeout_sec: 0\n"));
    assert.equal(low.line, 3);
    assert.match(low.error.message, /app\.yaml:3:26: readiness_check\.app_start_timeout_sec: must be at least 1, got 0/);
    assert.throws(() => parseAppYaml("runtime: java17\nreadiness_check:\n  app_start_timeout_sec: 1801\n"), /readiness_check\.app_start_timeout_sec: must be at most 1800, got 1801/);
  });

  it("refuses a wrong type, saying what is allowed", () => {
    assert.throws(
      () => parseAppYaml('runtime: java17\nreadiness_check:\n  app_start_timeout_sec: "60s"\n'),
      /readiness_check\.app_start_timeout_sec: expected a whole number of seconds from 1 to 1800: how long an instance may take to listen on its port, got a string \("60s"\)/,
    );
    assert.throws(() => parseAppYaml("runtime: java17\nreadiness_check:\n  app_start_timeout_sec: 1.5\n"), /expected a whole number of seconds from 1 to 1800.*got a number \(1\.5\)/);
    assert.throws(() => parseAppYaml("runtime: java17\nreadiness_check: 300\n"), /app\.yaml:2:18: readiness_check: expected a mapping with app_start_timeout_sec, got a number \(300\)/);
    assert.throws(() => parseAppYaml("runtime: java17\nreadiness_check:\n  app_start_timeout: 300\n"), /readiness_check\.app_start_timeout: not an app\.yaml key; did you mean `app_start_timeout_sec`\?/);
  });

  it("accepts App Engine flexible's other readiness_check keys with a warning (Strata does not act on them)", () => {
    const { spec, warnings } = parseAppYaml("runtime: java17\nreadiness_check:\n  path: /ready\n  check_interval_sec: 5\n  app_start_timeout_sec: 300\n");
    assert.deepEqual(spec.readiness_check, { app_start_timeout_sec: 300 });
    assert.deepEqual(warnings.map((w) => w.path), ["readiness_check.path", "readiness_check.check_interval_sec"]);
    assert.match(warnings[0]?.message ?? "", /an App Engine key Strata does not act on; ignored/);
  });
});
