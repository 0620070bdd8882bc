import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RUNTIMES, runtimeLanguage } from "../../../src/config/index.js";
import { StrataError } from "../../../src/errors.js";

describe("runtimes", () => {
  it("maps App Engine runtime ids to language and version", () => {
    assert.deepEqual(RUNTIMES["python312"], { language: "python", version: "3.12" });
    assert.deepEqual(RUNTIMES["python311"], { language: "python", version: "3.11" });
    assert.deepEqual(RUNTIMES["python3"], { language: "python", version: "3" });
    assert.deepEqual(RUNTIMES["nodejs20"], { language: "nodejs", version: "20" });
    assert.deepEqual(RUNTIMES["nodejs18"], { language: "nodejs", version: "18" });
    assert.deepEqual(RUNTIMES["nodejs"], { language: "nodejs" });
    assert.deepEqual(RUNTIMES["go119"], { language: "go", version: "1.19" });
    assert.deepEqual(RUNTIMES["go122"], { language: "go", version: "1.22" });
    assert.deepEqual(RUNTIMES["go"], { language: "go" });
    assert.deepEqual(RUNTIMES["php82"], { language: "php", version: "8.2" });
    assert.deepEqual(RUNTIMES["ruby31"], { language: "ruby", version: "3.1" });
    assert.deepEqual(RUNTIMES["java17"], { language: "java", version: "17" });
    assert.deepEqual(RUNTIMES["static"], { language: "static" });
    assert.deepEqual(RUNTIMES["custom"], { language: "custom" });
  });

  it("gives every runtime's language", () => {
    for (const [id, info] of Object.entries(RUNTIMES)) assert.equal(runtimeLanguage(id), info.language);
    assert.equal(runtimeLanguage("python312"), "python");
    assert.equal(runtimeLanguage("static"), "static");
  });

  it("is frozen", () => {
    assert.ok(Object.isFrozen(RUNTIMES));
    assert.ok(Object.isFrozen(RUNTIMES["go122"]));
  });

  it("refuses an unknown runtime, suggesting one and listing the known ones", () => {
    for (const [bad, guess] of [
      ["nodejs21", "nodejs20"],
      ["Python312", "python312"],
      ["toString", undefined],
      ["cobol", undefined],
    ] as const) {
      assert.throws(
        () => runtimeLanguage(bad),
        (err: unknown) => {
          assert.ok(err instanceof StrataError);
          assert.equal(err.code, "INVALID_CONFIG");
          assert.match(err.message, new RegExp(`unknown runtime "${bad}"`));
          if (guess !== undefined) assert.match(err.message, new RegExp(`did you mean \`${guess}\``));
          assert.match(err.message, /python: python37 .* python3/);
          assert.match(err.message, /static: static/);
          assert.ok((err.details?.["allowed"] as string[]).includes("go122"));
          return true;
        },
      );
    }
  });
});
