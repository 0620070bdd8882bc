import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closestMatch } from "../../../src/config/suggest.js";

describe("closestMatch", () => {
  const keys = ["runtime", "service", "handlers", "env_variables", "instance_class", "automatic_scaling", "basic_scaling"];

  it("finds misspellings: a missing, extra, changed or swapped letter", () => {
    assert.equal(closestMatch("handler", keys), "handlers");
    assert.equal(closestMatch("runtiem", keys), "runtime");
    assert.equal(closestMatch("servcie", keys), "service");
    assert.equal(closestMatch("env_varaibles", keys), "env_variables");
    assert.equal(closestMatch("automatic_scalling", keys), "automatic_scaling");
  });

  it("ignores case, and - versus _", () => {
    assert.equal(closestMatch("Instance-Class", keys), "instance_class");
    assert.equal(closestMatch("RUNTIME", keys), "runtime");
  });

  it("suggests nothing when nothing is close", () => {
    assert.equal(closestMatch("zzzzzz", keys), undefined);
    assert.equal(closestMatch("environment", keys), undefined);
    assert.equal(closestMatch("abc", ["xyz"]), undefined);
    assert.equal(closestMatch("x", []), undefined);
  });

  it("breaks ties by the longer shared prefix", () => {
    assert.equal(closestMatch("nodejs21", ["nodejs12", "nodejs20"]), "nodejs20");
  });
});
