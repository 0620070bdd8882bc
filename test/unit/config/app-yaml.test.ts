import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { handlerUrlRegExp, parseAppYaml } from "../../../src/config/index.js";
import { configIssues, oneIssue } from "./config-error.js";

const FULL = `# a full App Engine Standard app.yaml
runtime: python312
service: guestbook
entrypoint: gunicorn -b :$PORT main:app
instance_class: F2
default_expiration: "1d 6h"
inbound_services:
  - warmup
env_variables:
  BUCKET: my-bucket
  WORKERS: 4
  RATIO: 1.50
  DEBUG: false
  ZIP: 08
  EMPTY: ""
handlers:
  - url: /static
    static_dir: public
    secure: always
    redirect_http_response_code: 301
    expiration: "4d 5h 30m 10s"
    http_headers:
      X-Frame-Options: DENY
      X-Version: 2
  - url: /(.*)\\.(png|jpg)$
    static_files: img/\\1.\\2
    upload: img/.*\\.(png|jpg)$
    mime_type: image/png
  - url: /.*
    script: auto
    secure: optional
automatic_scaling:
  min_instances: 1
  max_instances: 8
  max_concurrent_requests: 40
  target_cpu_utilization: 0.7
  target_throughput_utilization: 0.75
  min_idle_instances: 1
  max_idle_instances: automatic
  min_pending_latency: 30ms
  max_pending_latency: 1.5s
  idle_timeout: 10m
sandbox: gvisor
`;

describe("parseAppYaml: valid files", () => {
  it("reads a full file into a typed spec with no warnings", () => {
    const { spec, warnings } = parseAppYaml(FULL);
    assert.deepEqual(warnings, []);
    assert.equal(spec.runtime, "python312");
    assert.equal(spec.service, "guestbook");
    assert.equal(spec.entrypoint, "gunicorn -b :$PORT main:app");
    assert.equal(spec.instance_class, "F2");
    assert.equal(spec.default_expiration, "1d 6h");
    assert.deepEqual(spec.inbound_services, ["warmup"]);
    assert.equal(spec.sandbox, "gvisor");
    assert.equal(spec.handlers?.length, 3);
    assert.deepEqual(spec.handlers?.[0], {
      url: "/static",
      static_dir: "public",
      secure: "always",
      redirect_http_response_code: 301,
      expiration: "4d 5h 30m 10s",
      http_headers: { "X-Frame-Options": "DENY", "X-Version": "2" },
    });
    assert.deepEqual(spec.handlers?.[1], {
      url: "/(.*)\\.(png|jpg)$",
      static_files: "img/\\1.\\2",
      upload: "img/.*\\.(png|jpg)$",
      mime_type: "image/png",
    });
    assert.deepEqual(spec.handlers?.[2], { url: "/.*", script: "auto", secure: "optional" });
    assert.deepEqual(spec.automatic_scaling, {
      min_instances: 1,
      max_instances: 8,
      max_concurrent_requests: 40,
      target_cpu_utilization: 0.7,
      target_throughput_utilization: 0.75,
      min_idle_instances: 1,
      max_idle_instances: "automatic",
      min_pending_latency: "30ms",
      max_pending_latency: "1.5s",
      idle_timeout: "10m",
    });
  });

  it("turns YAML numbers and booleans in env_variables into strings spelled as in the file", () => {
    const { spec } = parseAppYaml(FULL);
    assert.deepEqual(spec.env_variables, {
      BUCKET: "my-bucket",
      WORKERS: "4",
      RATIO: "1.50",
      DEBUG: "false",
      ZIP: "08",
      EMPTY: "",
    });
  });

  it("accepts the smallest file: just a runtime", () => {
    assert.deepEqual(parseAppYaml("runtime: nodejs20\n"), { spec: { runtime: "nodejs20" }, warnings: [] });
  });

  it("treats a mapping or list written with nothing after it as empty, as App Engine does", () => {
    const { spec } = parseAppYaml("runtime: go122\nenv_variables:\n  # none yet\nhandlers:\nautomatic_scaling:\n");
    assert.deepEqual(spec, { runtime: "go122", env_variables: {}, handlers: [], automatic_scaling: {} });
  });

  it("reads basic and manual scaling blocks and B instance classes", () => {
    const basic = parseAppYaml("runtime: java17\ninstance_class: B4\nbasic_scaling:\n  max_instances: 3\n  idle_timeout: 10m\n");
    assert.deepEqual(basic.spec.basic_scaling, { max_instances: 3, idle_timeout: "10m" });
    const manual = parseAppYaml("runtime: php82\ninstance_class: B8\nmanual_scaling:\n  instances: 2\n");
    assert.deepEqual(manual.spec.manual_scaling, { instances: 2 });
  });

  it("accepts every sandbox and a Go main package", () => {
    for (const sandbox of ["runc", "crun", "gvisor", "isolate", "microvm", "lxc", "lxd", "vm", "kata", "xen", "k8s"]) {
      assert.equal(parseAppYaml(`runtime: static\nsandbox: ${sandbox}\n`).spec.sandbox, sandbox);
    }
    assert.equal(parseAppYaml("runtime: go122\nmain: ./cmd/web\n").spec.main, "./cmd/web");
  });

  it("honours YAML anchors and merge keys (PyYAML does)", () => {
    const text = "runtime: static\nhandlers:\n  - &cached\n    url: /a\n    static_dir: a\n    expiration: 1h\n  - <<: *cached\n    url: /b\n";
    const { spec } = parseAppYaml(text);
    assert.deepEqual(spec.handlers?.[1], { url: "/b", static_dir: "a", expiration: "1h" });
  });

  it("accepts CRLF line endings", () => {
    assert.equal(parseAppYaml("runtime: ruby33\r\nservice: api\r\n").spec.service, "api");
  });
});

describe("parseAppYaml: errors name the file, line, column and field", () => {
  it("reports a wrong type with what is allowed and what the file has", () => {
    const text = "runtime: static\nhandlers:\n  - url: /a\n    static_dir: a\n  - url: /b\n    static_dir: 7\n";
    const issue = oneIssue(() => parseAppYaml(text));
    assert.equal(issue.line, 6);
    assert.equal(issue.column, 17);
    assert.equal(issue.path, "handlers[1].static_dir");
    assert.equal(issue.allowed, "a string (a folder in the upload)");
    assert.equal(
      issue.error.message,
      "app.yaml:6:17: handlers[1].static_dir: expected a string (a folder in the upload), got a number (7)",
    );
    assert.deepEqual(
      { file: issue.error.details?.["file"], line: issue.error.details?.["line"], column: issue.error.details?.["column"], path: issue.error.details?.["path"] },
      { file: "app.yaml", line: 6, column: 17, path: "handlers[1].static_dir" },
    );
  });

  it("uses the file name it is given", () => {
    const issue = oneIssue(() => parseAppYaml("runtime: 3\n", "svc/api/app.yaml"));
    assert.equal(issue.file, "svc/api/app.yaml");
    assert.match(issue.error.message, /^svc\/api\/app\.yaml:1:10: runtime: expected a runtime like python312/);
  });

  it("reports a missing runtime at the top of the file", () => {
    const issue = oneIssue(() => parseAppYaml("service: web\n"));
    assert.equal(issue.path, "runtime");
    assert.equal(issue.line, 1);
    assert.match(issue.message, /^missing; expected a runtime/);
  });

  it("rejects an unknown runtime, suggesting the closest and listing the known ones", () => {
    const issue = oneIssue(() => parseAppYaml("service: web\nruntime: pyhton312\n"));
    assert.equal(issue.line, 2);
    assert.equal(issue.column, 10);
    assert.match(issue.message, /unknown runtime "pyhton312" \(did you mean `python312`\?\)/);
    assert.match(issue.message, /nodejs20/);
    assert.match(issue.message, /go122/);
  });

  it("rejects a service name that is not a DNS label", () => {
    for (const bad of ["My-App", "-web", "web-", "a".repeat(64), "web_app"]) {
      const issue = oneIssue(() => parseAppYaml(`runtime: static\nservice: "${bad}"\n`));
      assert.equal(issue.path, "service");
      assert.equal(issue.line, 2);
      assert.match(issue.message, /lowercase letters, digits or -/);
    }
    assert.equal(parseAppYaml(`runtime: static\nservice: ${"a".repeat(63)}\n`).spec.service?.length, 63);
  });

  it("allows only `script: auto`, saying why", () => {
    const issue = oneIssue(() => parseAppYaml("runtime: python312\nhandlers:\n  - url: /.*\n    script: main.app\n"));
    assert.equal(issue.line, 4);
    assert.equal(issue.path, "handlers[0].script");
    assert.match(issue.message, /only `script: auto` is supported in Strata \(the app's entrypoint serves these URLs\), got "main.app"/);
  });

  it("rejects a url that does not compile as a regular expression, with the Python hint", () => {
    const issue = oneIssue(() => parseAppYaml("runtime: python312\nhandlers:\n  - url: /(?P<name>.*)\n    script: auto\n"));
    assert.equal(issue.line, 3);
    assert.equal(issue.column, 10);
    assert.equal(issue.path, "handlers[0].url");
    assert.match(issue.message, /is not a valid regular expression/);
    assert.match(issue.message, /\(\?<name>\.\.\.\) in JavaScript/);
    const unbalanced = oneIssue(() => parseAppYaml("runtime: static\nhandlers:\n  - url: /([a-z]\n    static_dir: x\n"));
    assert.equal(unbalanced.path, "handlers[0].url");
  });

  it("requires exactly one of static_dir, static_files or script in a handler", () => {
    const none = oneIssue(() => parseAppYaml("runtime: static\nhandlers:\n  - url: /a\n    secure: always\n"));
    assert.equal(none.path, "handlers[0]");
    assert.equal(none.line, 3);
    assert.match(none.message, /needs one of static_dir, static_files or script/);
    const two = oneIssue(() => parseAppYaml("runtime: python312\nhandlers:\n  - url: /a\n    static_dir: a\n    script: auto\n"));
    assert.equal(two.path, "handlers[0].script");
    assert.equal(two.line, 5);
    assert.match(two.message, /cannot be combined with static_dir/);
  });

  it("requires upload with static_files, and only there", () => {
    const missing = oneIssue(() => parseAppYaml("runtime: static\nhandlers:\n  - url: /(.*)\n    static_files: www/\\1\n"));
    assert.equal(missing.path, "handlers[0].static_files");
    assert.equal(missing.line, 4);
    assert.match(missing.message, /needs an `upload` regular expression/);
    const stray = oneIssue(() => parseAppYaml("runtime: static\nhandlers:\n  - url: /a\n    static_dir: a\n    upload: a/.*\n"));
    assert.equal(stray.path, "handlers[0].upload");
    assert.equal(stray.line, 5);
  });

  it("checks static_files group references against the url's groups", () => {
    const issue = oneIssue(() =>
      parseAppYaml("runtime: static\nhandlers:\n  - url: /img/(.*)\n    static_files: img/\\2\n    upload: img/.*\n"),
    );
    assert.equal(issue.path, "handlers[0].static_files");
    assert.match(issue.message, /refers to \\2 but url has 1 capturing group$/);
  });

  it("keeps static paths inside the upload", () => {
    for (const [bad, reason] of [
      ["/etc", /no leading \//],
      ["../secrets", /no \.\. segments/],
      ["a/../../b", /no \.\. segments/],
    ] as const) {
      const issue = oneIssue(() => parseAppYaml(`runtime: static\nhandlers:\n  - url: /a\n    static_dir: ${bad}\n`));
      assert.equal(issue.line, 4);
      assert.match(issue.message, reason);
    }
  });

  it("rejects values outside App Engine's lists, suggesting the closest", () => {
    const secure = oneIssue(() => parseAppYaml("runtime: static\nhandlers:\n  - url: /a\n    static_dir: a\n    secure: allways\n"));
    assert.equal(secure.line, 5);
    assert.equal(secure.allowed, "optional, never, always");
    assert.match(secure.message, /expected one of optional, never, always, got a string \("allways"\) \(did you mean `always`\?\)/);
    const code = oneIssue(() =>
      parseAppYaml("runtime: static\nhandlers:\n  - url: /a\n    static_dir: a\n    redirect_http_response_code: 308\n"),
    );
    assert.match(code.message, /expected one of 301, 302, 303, 307, got a number \(308\)/);
    const cls = oneIssue(() => parseAppYaml("runtime: static\ninstance_class: F3\n"));
    assert.equal(cls.line, 2);
    assert.match(cls.message, /F1, F2, F4, F4_1G, B1, B2, B4, B4_1G, B8/);
    const sandbox = oneIssue(() => parseAppYaml("runtime: static\nsandbox: gvsior\n"));
    assert.match(sandbox.message, /did you mean `gvisor`/);
    const service = oneIssue(() => parseAppYaml("runtime: static\ninbound_services: [warmpu]\n"));
    assert.equal(service.path, "inbound_services[0]");
    assert.match(service.message, /did you mean `warmup`/);
  });

  it("validates durations and expirations", () => {
    const exp = oneIssue(() => parseAppYaml("runtime: static\ndefault_expiration: 1 week\n"));
    assert.equal(exp.line, 2);
    assert.equal(exp.path, "default_expiration");
    assert.match(exp.message, /is not an App Engine expiration like "4d 5h 30m 10s"/);
    const latency = oneIssue(() => parseAppYaml("runtime: go\nautomatic_scaling:\n  max_pending_latency: 30\n"));
    assert.equal(latency.line, 3);
    assert.match(latency.message, /expected "automatic" or a duration like "30ms".*got a number \(30\)/);
    const idle = oneIssue(() => parseAppYaml("runtime: go\nbasic_scaling:\n  max_instances: 2\n  idle_timeout: soon\n"));
    assert.equal(idle.path, "basic_scaling.idle_timeout");
    assert.equal(idle.line, 4);
  });

  it("validates scaling numbers against App Engine's ranges", () => {
    const cpu = oneIssue(() => parseAppYaml("runtime: go\nautomatic_scaling:\n  target_cpu_utilization: 1.2\n"));
    assert.equal(cpu.message, "must be at most 0.95, got 1.2");
    assert.equal(cpu.line, 3);
    const conc = oneIssue(() => parseAppYaml("runtime: go\nautomatic_scaling:\n  max_concurrent_requests: 0\n"));
    assert.equal(conc.message, "must be at least 1, got 0");
    const frac = oneIssue(() => parseAppYaml("runtime: go\nmanual_scaling:\n  instances: 1.5\n"));
    assert.match(frac.message, /expected a whole number, 1 or more, got a number \(1\.5\)/);
    const missing = oneIssue(() => parseAppYaml("runtime: go\nbasic_scaling:\n  idle_timeout: 5m\n"));
    assert.equal(missing.path, "basic_scaling.max_instances");
    assert.equal(missing.line, 3);
    assert.match(missing.message, /^missing; expected a whole number/);
    const idle = oneIssue(() => parseAppYaml("runtime: go\nautomatic_scaling:\n  min_idle_instances: some\n"));
    assert.match(idle.message, /expected a whole number \(0 or more\) or "automatic", got a string \("some"\)/);
  });

  it("allows at most one scaling block", () => {
    const issue = oneIssue(() =>
      parseAppYaml("runtime: go\nautomatic_scaling:\n  max_instances: 3\nmanual_scaling:\n  instances: 1\n"),
    );
    assert.equal(issue.path, "manual_scaling");
    assert.equal(issue.line, 4);
    assert.equal(issue.column, 1);
    assert.match(issue.message, /only one of automatic_scaling, basic_scaling and manual_scaling/);
  });

  it("checks min against max in automatic scaling", () => {
    const instances = oneIssue(() => parseAppYaml("runtime: go\nautomatic_scaling:\n  min_instances: 5\n  max_instances: 2\n"));
    assert.equal(instances.path, "automatic_scaling.min_instances");
    assert.equal(instances.line, 3);
    assert.equal(instances.message, "5 is greater than max_instances (2)");
    const idle = oneIssue(() =>
      parseAppYaml("runtime: go\nautomatic_scaling:\n  min_idle_instances: 3\n  max_idle_instances: 1\n"),
    );
    assert.equal(idle.path, "automatic_scaling.min_idle_instances");
    const latency = oneIssue(() =>
      parseAppYaml("runtime: go\nautomatic_scaling:\n  min_pending_latency: 2s\n  max_pending_latency: 500ms\n"),
    );
    assert.equal(latency.path, "automatic_scaling.min_pending_latency");
    assert.equal(latency.line, 3);
    // max_instances 0 means "not set" on App Engine, so any min is fine.
    assert.doesNotThrow(() => parseAppYaml("runtime: go\nautomatic_scaling:\n  min_instances: 5\n  max_instances: 0\n"));
  });

  it("matches instance class families to the scaling kind", () => {
    const f = oneIssue(() => parseAppYaml("runtime: go\ninstance_class: F2\nbasic_scaling:\n  max_instances: 1\n"));
    assert.equal(f.path, "instance_class");
    assert.equal(f.line, 2);
    assert.match(f.message, /F2 is not available with basic scaling; use one of B1, B2, B4, B4_1G, B8/);
    const b = oneIssue(() => parseAppYaml("runtime: go\ninstance_class: B2\n"));
    assert.match(b.message, /B2 is not available with automatic scaling; use one of F1, F2, F4, F4_1G/);
  });

  it("rejects a script handler in the static runtime", () => {
    const issue = oneIssue(() => parseAppYaml("runtime: static\nhandlers:\n  - url: /.*\n    script: auto\n"));
    assert.equal(issue.path, "handlers[0].script");
    assert.match(issue.message, /runtime static has no app process/);
  });

  it("checks environment variable names and empty values", () => {
    const { issues } = configIssues(() => parseAppYaml("runtime: go\nenv_variables:\n  1ST: a\n  OK: b\n  EMPTY:\n"));
    assert.deepEqual(
      issues.map((i) => [i.line, i.column, i.path]),
      [
        [3, 3, "env_variables.1ST"],
        [5, 9, "env_variables.EMPTY"],
      ],
    );
    assert.match(issues[0]?.message ?? "", /not a valid environment variable name/);
    assert.match(issues[1]?.message ?? "", /got an empty value/);
  });

  it("checks header names and values", () => {
    const { issues } = configIssues(() =>
      parseAppYaml('runtime: static\nhandlers:\n  - url: /a\n    static_dir: a\n    http_headers:\n      "Bad Name": x\n      X-Ok: "a\\nb"\n'),
    );
    assert.deepEqual(
      issues.map((i) => [i.line, i.path, i.message]),
      [
        [6, 'handlers[0].http_headers.Bad Name', "is not a valid HTTP header name"],
        [7, "handlers[0].http_headers.X-Ok", "must be one line"],
      ],
    );
  });

  it("rejects more than App Engine's 100 handlers", () => {
    const handlers = Array.from({ length: 101 }, (_, i) => `  - url: /h${i}\n    static_dir: d\n`).join("");
    const issue = oneIssue(() => parseAppYaml(`runtime: static\nhandlers:\n${handlers}`));
    assert.equal(issue.path, "handlers");
    assert.equal(issue.message, "must have at most 100 entries");
  });
});

describe("handlerUrlRegExp", () => {
  it("matches the whole path for static_files and script handlers", () => {
    const re = handlerUrlRegExp({ url: "/(.*)\\.png|/favicon\\.ico" });
    assert.deepEqual(re.exec("/a/b.png")?.slice(1), ["a/b"]);
    assert.ok(re.test("/favicon.ico"));
    assert.equal(re.test("/x/favicon.ico"), false);
    assert.equal(re.test("/a.png.txt"), false);
  });

  it("treats a static_dir url as a folder prefix, capturing the file below it", () => {
    const re = handlerUrlRegExp({ url: "/static", static_dir: "public" });
    assert.deepEqual(re.exec("/static/css/site.css")?.slice(1), ["css/site.css"]);
    assert.equal(re.test("/staticfoo/a.css"), false);
    assert.equal(re.test("/static"), false);
    assert.deepEqual(handlerUrlRegExp({ url: "/s/", static_dir: "s" }).exec("/s/a")?.slice(1), ["a"]);
  });
});
