import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAppYaml, readStoredSpec, storedSpec, STORED_SPEC_VERSION } from "../../../src/config/index.js";
import { StrataError } from "../../../src/errors.js";

/** As the store keeps it: JSON text, parsed again on read. */
const throughStore = (spec: Record<string, unknown>) => JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;

const APP_YAML = "runtime: python312\nenv_variables:\n  A: b\nautomatic_scaling:\n  idle_timeout: 1s\nhandlers:\n  - url: /s\n    static_dir: s\n";

function refused(raw: Record<string, unknown>, message: RegExp): void {
  assert.throws(
    () => readStoredSpec(raw, "shop/v1"),
    (err: unknown) => err instanceof StrataError && err.code === "INVALID_CONFIG" && message.test(err.message),
  );
}

describe("stored app.yaml", () => {
  it("writes the current format and reads the same app.yaml back", () => {
    const { spec } = parseAppYaml(APP_YAML);
    const stored = throughStore(storedSpec(spec));
    assert.equal(stored.v, STORED_SPEC_VERSION);
    assert.deepEqual(readStoredSpec(stored, "shop/v1"), spec);
  });

  it("keeps 'no app.yaml' apart from an app.yaml", () => {
    assert.equal(readStoredSpec(throughStore(storedSpec(undefined)), "shop/v1"), undefined);
  });

  it("reads format 1, the bare app.yaml older daemons stored ({} for none)", () => {
    const { spec } = parseAppYaml(APP_YAML);
    assert.deepEqual(readStoredSpec(throughStore(spec), "shop/v1"), spec);
    assert.equal(readStoredSpec({}, "shop/v1"), undefined);
  });

  it("refuses, naming the version and the field, an app.yaml today's schema does not accept", () => {
    refused({ v: 2, appYaml: { runtime: "python312", automatic_scaling: { min_instances: -1 } } }, /version shop\/v1 .*automatic_scaling\.min_instances: .*deploy it again/);
    refused({ runtime: "python312", no_such_key: 1 }, /version shop\/v1 .*no longer accepts/);
  });

  it("refuses a format written by a newer Strata, saying what to do", () => {
    refused({ v: STORED_SPEC_VERSION + 1, appYaml: { runtime: "python312" } }, /newer Strata .*upgrade Strata, or deploy the version again/);
    refused({ v: 2 }, /appYaml/);
  });
});
