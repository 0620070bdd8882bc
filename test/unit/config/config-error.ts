/** Test helper: runs `fn`, asserts it throws INVALID_CONFIG, and returns the error's issues. */
import assert from "node:assert/strict";
import { StrataError } from "../../../src/errors.js";
import type { ConfigIssue } from "../../../src/config/index.js";

export function configIssues(fn: () => unknown): { error: StrataError; issues: ConfigIssue[] } {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof StrataError, `expected a StrataError, got ${String(caught)}`);
  assert.equal(caught.code, "INVALID_CONFIG");
  assert.equal(caught.kind, "user");
  const issues = (caught.details?.["issues"] ?? []) as ConfigIssue[];
  return { error: caught, issues };
}

/** The one issue `fn` throws, checked against what the test expects. */
export function oneIssue(fn: () => unknown): ConfigIssue & { error: StrataError } {
  const { error, issues } = configIssues(fn);
  assert.equal(issues.length, 1, `expected one issue, got:\n${error.message}`);
  return { ...(issues[0] as ConfigIssue), error };
}
