import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAppYaml } from "../../../src/config/index.js";
import { configIssues, oneIssue } from "./config-error.js";

describe("parseAppYaml: reports every problem at once", () => {
  it("lists each issue on its own line, in file order, with details.issues", () => {
    const text = [
      "runtime: python312",
      "service: Web",
      "handlrs: []",
      "handlers:",
      "  - url: /s",
      "    static_dir: 3",
      "instance_class: F9",
      "",
    ].join("\n");
    const { error, issues } = configIssues(() => parseAppYaml(text));
    assert.deepEqual(issues.map((i) => [i.line, i.path]), [
      [2, "service"],
      [3, "handlrs"],
      [6, "handlers[0].static_dir"],
      [7, "instance_class"],
    ]);
    const lines = error.message.split("\n");
    assert.equal(lines[0], "app.yaml has 4 problems:");
    assert.equal(lines.length, 5);
    assert.match(lines[1] ?? "", /^app\.yaml:2:10: service: /);
    assert.match(lines[2] ?? "", /^app\.yaml:3:1: handlrs: .*did you mean `handlers`/);
    assert.match(lines[3] ?? "", /^app\.yaml:6:17: handlers\[0\]\.static_dir: /);
    assert.match(lines[4] ?? "", /^app\.yaml:7:17: instance_class: /);
    assert.equal(error.details?.["line"], 2);
  });
});

describe("parseAppYaml: files that are not app.yaml-shaped", () => {
  it("rejects an empty file clearly", () => {
    for (const text of ["", "   \n\n", "# just a comment\n", "---\n"]) {
      const issue = oneIssue(() => parseAppYaml(text));
      assert.equal(issue.line, 1);
      assert.match(issue.message, /the file is empty; it needs at least a runtime/);
    }
  });

  it("rejects a top level that is not a mapping", () => {
    const list = oneIssue(() => parseAppYaml("- runtime: go\n"));
    assert.match(list.message, /the top level must be a mapping of keys .*, got a list/);
    const scalar = oneIssue(() => parseAppYaml("python312\n"));
    assert.match(scalar.message, /got a single value/);
  });

  it("reports YAML syntax errors with their line", () => {
    const dup = oneIssue(() => parseAppYaml("runtime: go\nservice: a\nruntime: go122\n"));
    assert.equal(dup.line, 3);
    assert.match(dup.message, /^YAML syntax error: Map keys must be unique/);
    const { issues } = configIssues(() => parseAppYaml("runtime: go\nhandlers:\n  - url: [/a\n"));
    assert.ok(issues.length >= 1);
    assert.ok(issues.every((i) => i.line >= 3 && /^YAML syntax error/.test(i.message)));
    const tab = configIssues(() => parseAppYaml("runtime: go\nenv_variables:\n\tA: b\n"));
    assert.equal(tab.issues[0]?.line, 3);
  });

  it("refuses a billion-laughs alias bomb", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(", ")}]`);
    lines.push("runtime: go");
    const issue = oneIssue(() => parseAppYaml(lines.join("\n")));
    assert.match(issue.message, /^cannot be read: .*alias/i);
  });
});
