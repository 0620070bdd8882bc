import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAppYaml } from "../../../src/config/index.js";
import { configIssues, oneIssue } from "./config-error.js";

describe("parseAppYaml: keys that are not in the schema", () => {
  it("rejects a misspelt key, naming its line and the closest known key", () => {
    const issue = oneIssue(() => parseAppYaml("runtime: static\n\nhandler:\n  - url: /a\n    static_dir: a\n"));
    assert.equal(issue.line, 3);
    assert.equal(issue.column, 1);
    assert.equal(issue.path, "handler");
    assert.equal(issue.error.message, "app.yaml:3:1: handler: not an app.yaml key; did you mean `handlers`?");
  });

  it("suggests keys inside handlers and scaling blocks too", () => {
    const { issues } = configIssues(() =>
      parseAppYaml(
        "runtime: go\nhandlers:\n  - url: /a\n    static_dri: a\nautomatic_scaling:\n  max_instance: 3\nenv_varaibles:\n  A: b\nInstance_Class: F1\n",
      ),
    );
    assert.deepEqual(
      issues.map((i) => [i.line, i.column, i.path, i.message]),
      [
        [4, 5, "handlers[0].static_dri", "not an app.yaml key; did you mean `static_dir`?"],
        [6, 3, "automatic_scaling.max_instance", "not an app.yaml key; did you mean `max_instances`?"],
        [7, 1, "env_varaibles", "not an app.yaml key; did you mean `env_variables`?"],
        [9, 1, "Instance_Class", "not an app.yaml key; did you mean `instance_class`?"],
      ],
    );
  });

  it("does not echo a typo as a missing key or an incomplete handler", () => {
    const scaling = oneIssue(() => parseAppYaml("runtime: go\nbasic_scaling:\n  max_instance: 3\n"));
    assert.equal(scaling.path, "basic_scaling.max_instance");
    const handler = oneIssue(() => parseAppYaml("runtime: static\nhandlers:\n  - url: /a\n    staticdir: a\n"));
    assert.match(handler.message, /did you mean `static_dir`/);
    // An unrelated missing key is still reported next to the typo.
    const { issues } = configIssues(() => parseAppYaml("service: web\nhandlrs: []\n"));
    assert.deepEqual(issues.map((i) => i.path), ["runtime", "handlrs"]);
  });

  it("says where a key belongs when it is at the wrong level", () => {
    const issue = oneIssue(() => parseAppYaml("runtime: go\nsecure: always\n"));
    assert.equal(issue.message, "belongs in an entry of handlers, not in the top level");
    const scaling = oneIssue(() => parseAppYaml("runtime: go\nmax_instances: 3\n"));
    assert.equal(scaling.message, "belongs in automatic_scaling or basic_scaling, not in the top level");
  });

  it("lists the known keys when nothing is close", () => {
    const issue = oneIssue(() => parseAppYaml("runtime: go\nzzzzzzzz: 1\n"));
    assert.match(issue.message, /^not an app\.yaml key here; the keys are runtime, service, /);
  });

  it("rejects a redirect handler key, which App Engine does not have", () => {
    const issue = oneIssue(() => parseAppYaml("runtime: static\nhandlers:\n  - url: /a\n    redirect: /b\n    static_dir: a\n"));
    assert.equal(issue.path, "handlers[0].redirect");
    assert.equal(issue.line, 4);
  });

  it("warns, naming key and line, for App Engine keys Strata does not act on", () => {
    const text = [
      "runtime: python312",
      "threadsafe: true",
      "vpc_access_connector:",
      "  name: projects/p/locations/r/connectors/c",
      "handlers:",
      "  - url: /admin/.*",
      "    script: auto",
      "    login: admin",
      "    auth_fail_action: unauthorized",
      "  - url: /s",
      "    static_dir: s",
      "    application_readable: true",
      "automatic_scaling:",
      "  cool_down_period_sec: 120",
      "skip_files:",
      "  - ^\\.git/.*",
      "",
    ].join("\n");
    const { spec, warnings } = parseAppYaml(text);
    assert.deepEqual(
      warnings.map((w) => [w.line, w.column, w.path]),
      [
        [2, 1, "threadsafe"],
        [3, 1, "vpc_access_connector"],
        [8, 5, "handlers[0].login"],
        [9, 5, "handlers[0].auth_fail_action"],
        [12, 5, "handlers[1].application_readable"],
        [14, 3, "automatic_scaling.cool_down_period_sec"],
        [15, 1, "skip_files"],
      ],
    );
    for (const w of warnings) {
      assert.equal(w.file, "app.yaml");
      assert.match(w.message, /^an App Engine key Strata does not act on; ignored \(.+\)$/);
    }
    assert.match(warnings[6]?.message ?? "", /\.gcloudignore or \.stratignore/);
    // Ignored keys are dropped from the spec.
    assert.deepEqual(spec.handlers?.[0], { url: "/admin/.*", script: "auto" });
    assert.equal("threadsafe" in spec, false);
    assert.deepEqual(spec.automatic_scaling, {});
  });

  it("warns for every brief-listed App Engine key", () => {
    const keys = [
      "vpc_access_connector", "app_engine_apis", "includes", "error_handlers", "skip_files", "libraries",
      "api_version", "threadsafe", "beta_settings", "network", "build_env_variables", "env", "liveness_check",
      "resources", "service_account", "runtime_config",
    ];
    const text = `runtime: python312\n${keys.map((k) => `${k}: x`).join("\n")}\n`;
    const { warnings } = parseAppYaml(text);
    assert.deepEqual(warnings.map((w) => w.path), keys);
    assert.deepEqual(warnings.map((w) => w.line), keys.map((_, i) => i + 2));
  });

  it("warns for inbound services other than warmup, main outside Go, and static-only keys on scripts", () => {
    const text = [
      "runtime: nodejs20",
      "main: ./cmd",
      "inbound_services:",
      "  - warmup",
      "  - mail",
      "handlers:",
      "  - url: /.*",
      "    script: auto",
      "    expiration: 1h",
      "",
    ].join("\n");
    const { spec, warnings } = parseAppYaml(text);
    assert.deepEqual(
      warnings.map((w) => [w.line, w.path]),
      [
        [2, "main"],
        [5, "inbound_services[1]"],
        [9, "handlers[0].expiration"],
      ],
    );
    assert.match(warnings[0]?.message ?? "", /only used by Go runtimes; ignored for nodejs20/);
    assert.match(warnings[1]?.message ?? "", /does not deliver mail; ignored \(only warmup is acted on\)/);
    assert.match(warnings[2]?.message ?? "", /applies to static handlers only/);
    assert.deepEqual(spec.inbound_services, ["warmup", "mail"]);
  });
});
