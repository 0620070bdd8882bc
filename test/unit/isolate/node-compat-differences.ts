/**
 * Cases of test/fixtures/node-compat whose answer under Strata differs from workerd's, each with the reason.
 * The differential test fails on a difference not listed here and on a listed case that now agrees.
 */
export const ACCEPTED: Record<string, string> = {};
