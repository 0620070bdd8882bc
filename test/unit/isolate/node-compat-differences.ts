/**
 * Cases of test/fixtures/node-compat whose answer under Strata differs from workerd's, each with the reason.
 * The differential test fails on a difference not listed here and on a listed case that now agrees.
 */
export const ACCEPTED: Record<string, string> = {
  "assert-messages":
    "the generated message text: npm assert carries Node 16's layout (\"Expected values to be strictly equal\"), workerd's is " +
    "Node 24's (\"[Diff] Actual / Expected\"), and workerd marks assert.ok's message as generated; which assertions fail, " +
    "their kind, code and operator agree (assert-basics)",
  "crypto-errors":
    "timingSafeEqual's length mismatch is Node's RangeError in Strata, a TypeError (message ending in a period) in workerd",
  "process-features":
    "process.features describes the runtime: Strata's isolates have no TLS sockets or libuv and hash with the engine's " +
    "OpenSSL, workerd has TLS and BoringSSL",
  "url-errors":
    "Strata throws Node's own errors (ERR_INVALID_URL_SCHEME and ERR_INVALID_FILE_URL_HOST are TypeErrors); workerd's port " +
    "throws plain Errors with the same code and message",
};
