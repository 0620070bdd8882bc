import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { expirationSeconds, parseDuration } from "../../../src/config/index.js";
import { StrataError } from "../../../src/errors.js";

function assertInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StrataError);
    assert.equal(err.code, "INVALID_CONFIG");
    assert.match(err.message, pattern);
    return true;
  });
}

describe("parseDuration", () => {
  it("reads App Engine durations into milliseconds", () => {
    const cases: [string, number][] = [
      ["500ms", 500],
      ["30ms", 30],
      ["30s", 30_000],
      ["1.5s", 1500],
      ["0.25s", 250],
      ["15m", 900_000],
      ["2h", 7_200_000],
      ["1d", 86_400_000],
      ["0s", 0],
      ["4d 5h 30m 10s", ((4 * 24 + 5) * 3600 + 30 * 60 + 10) * 1000],
      ["1h30m", 5_400_000],
      ["  10m  ", 600_000],
      ["2M", 120_000],
      ["1m 500ms", 60_500],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  it("tells m (minutes) from ms (milliseconds)", () => {
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("5ms"), 5);
  });

  it("refuses a bare number, suggesting units", () => {
    assertInvalid(() => parseDuration("30"), /"30" has no unit; write 30ms, 30s or 30m/);
  });

  it("refuses what is not a duration", () => {
    for (const bad of ["", "   ", "fast", "10 minutes", "-5s", "5x", "1.s", "s", "5s,6s"]) {
      assertInvalid(() => parseDuration(bad), /is not a duration like "30ms"/);
    }
  });

  it("puts the value and the format in the error's details", () => {
    try {
      parseDuration("soon");
      assert.fail("expected an error");
    } catch (err) {
      assert.ok(err instanceof StrataError);
      assert.equal(err.details?.["value"], "soon");
      assert.match(String(err.details?.["allowed"]), /a duration like/);
    }
  });
});

describe("expirationSeconds", () => {
  it("reads App Engine expirations into seconds", () => {
    const cases: [string, number][] = [
      ["4d 5h 30m 10s", (4 * 24 + 5) * 3600 + 30 * 60 + 10],
      ["1d", 86_400],
      ["0s", 0],
      ["10m", 600],
      ["2H", 7200],
      ["60", 60],
      ["1d 60", 86_460],
    ];
    for (const [text, seconds] of cases) assert.equal(expirationSeconds(text), seconds, text);
  });

  it("refuses milliseconds, fractions and words, as App Engine does", () => {
    for (const bad of ["500ms", "1.5h", "", "1 week", "1d,2h"]) {
      assertInvalid(() => expirationSeconds(bad), /is not an App Engine expiration like "4d 5h 30m 10s"/);
    }
  });
});
