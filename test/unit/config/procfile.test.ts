import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseProcfile } from "../../../src/config/index.js";
import { configIssues, oneIssue } from "./config-error.js";

describe("parseProcfile", () => {
  it("reads process types and commands", () => {
    const text = "# processes\nweb: gunicorn -b :$PORT main:app\n\nworker:python worker.py --queue=a:b\nrelease :  ./migrate\n";
    assert.deepEqual(parseProcfile(text), {
      web: "gunicorn -b :$PORT main:app",
      worker: "python worker.py --queue=a:b",
      release: "./migrate",
    });
  });

  it("accepts CRLF line endings, a BOM and indentation", () => {
    assert.deepEqual(parseProcfile("\uFEFFweb: node server.js\r\n  clock: node clock.js\r\n"), {
      web: "node server.js",
      clock: "node clock.js",
    });
  });

  it("reports a line that is not `type: command` with its line number", () => {
    const issue = oneIssue(() => parseProcfile("web: node a.js\n\nnode b.js\n"));
    assert.equal(issue.line, 3);
    assert.equal(issue.column, 1);
    assert.equal(issue.error.message, 'Procfile:3:1: expected `type: command` (like `web: node server.js`), got "node b.js"');
  });

  it("reports a process type without a command", () => {
    const issue = oneIssue(() => parseProcfile("web:\n", "app/Procfile"));
    assert.equal(issue.error.message, "app/Procfile:1:1: web: has no command");
  });

  it("reports a process type defined twice, naming both lines", () => {
    const issue = oneIssue(() => parseProcfile("web: a\nworker: b\n web: c\n"));
    assert.equal(issue.line, 3);
    assert.equal(issue.column, 2);
    assert.equal(issue.error.message, "Procfile:3:2: web: already defined on line 1");
  });

  it("reports every bad line at once", () => {
    const { issues } = configIssues(() => parseProcfile("web node\nok: fine\nweb two: x\n"));
    assert.deepEqual(issues.map((i) => i.line), [1, 3]);
  });

  it("refuses a Procfile with no process types", () => {
    const issue = oneIssue(() => parseProcfile("# nothing yet\n\n"));
    assert.match(issue.message, /no process types; add a line like `web: node server.js`/);
  });
});
