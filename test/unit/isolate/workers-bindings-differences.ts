/**
 * The cases of test/fixtures/workers-bindings whose answers under Strata's isolates may differ from
 * workerd's, each with why. workers-bindings-differential.test.ts fails on any other difference, and
 * on an entry here that no longer differs.
 */
export const ACCEPTED: Record<string, string> = {};
