import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultInstanceClass, INSTANCE_CLASSES, limitsForClass } from "../../../src/config/index.js";
import { StrataError } from "../../../src/errors.js";

describe("instance classes", () => {
  it("lists App Engine's classes", () => {
    assert.deepEqual([...INSTANCE_CLASSES], ["F1", "F2", "F4", "F4_1G", "B1", "B2", "B4", "B4_1G", "B8"]);
  });

  it("gives App Engine's memory and CPU for each class, and 256 pids", () => {
    const expected: Record<string, [number, number]> = {
      F1: [384, 600],
      F2: [768, 1200],
      F4: [1536, 2400],
      F4_1G: [3072, 2400],
      B1: [384, 600],
      B2: [768, 1200],
      B4: [1536, 2400],
      B4_1G: [3072, 2400],
      B8: [3072, 4800],
    };
    for (const cls of INSTANCE_CLASSES) {
      const [memoryMb, cpuMillis] = expected[cls] as [number, number];
      assert.deepEqual(limitsForClass(cls), { memoryMb, cpuMillis, pids: 256 }, cls);
    }
  });

  it("uses F1 when no class is given", () => {
    assert.deepEqual(limitsForClass(), limitsForClass("F1"));
    assert.deepEqual(limitsForClass(undefined), { memoryMb: 384, cpuMillis: 600, pids: 256 });
  });

  it("defaults to F1 for automatic scaling and B2 for basic and manual", () => {
    assert.equal(defaultInstanceClass("automatic"), "F1");
    assert.equal(defaultInstanceClass("basic"), "B2");
    assert.equal(defaultInstanceClass("manual"), "B2");
  });

  it("refuses an unknown class, listing the known ones", () => {
    assert.throws(
      () => limitsForClass("f1"),
      (err: unknown) =>
        err instanceof StrataError &&
        err.code === "INVALID_CONFIG" &&
        /unknown instance_class "f1"; known classes are F1, F2, F4, F4_1G, B1, B2, B4, B4_1G, B8/.test(err.message),
    );
  });

  it("returns limits that cannot be changed by the caller", () => {
    const limits = limitsForClass("F2");
    assert.ok(Object.isFrozen(limits));
    assert.equal(limitsForClass("F2").memoryMb, 768);
  });
});
