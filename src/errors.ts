/**
 * One error type for the whole platform. `code` is stable (clients branch on it); `kind` says whose
 * fault it is: a user error (bad input, unknown app) or a system error (a driver or the host failed).
 * HTTP status is chosen in api/ only, from the code.
 */
export type ErrorKind = "user" | "system";

export type ErrorCode =
  // user errors
  | "INVALID_CONFIG"
  | "INVALID_ARGUMENT"
  | "INVALID_ARCHIVE"
  | "ARCHIVE_TOO_LARGE"
  | "NOT_FOUND"
  | "APP_NOT_FOUND"
  | "VERSION_NOT_FOUND"
  | "ALREADY_EXISTS"
  | "UNAUTHORIZED"
  | "BUILD_FAILED"
  | "UNSUPPORTED_RUNTIME"
  | "SANDBOX_UNAVAILABLE"
  | "CONFLICT"
  // system errors
  | "COMMAND_FAILED"
  | "DRIVER_FAILED"
  | "INSTANCE_FAILED"
  | "DAEMON_UNREACHABLE"
  | "INTERNAL";

const USER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "INVALID_CONFIG",
  "INVALID_ARGUMENT",
  "INVALID_ARCHIVE",
  "ARCHIVE_TOO_LARGE",
  "NOT_FOUND",
  "APP_NOT_FOUND",
  "VERSION_NOT_FOUND",
  "ALREADY_EXISTS",
  "UNAUTHORIZED",
  "BUILD_FAILED",
  "UNSUPPORTED_RUNTIME",
  "SANDBOX_UNAVAILABLE",
  "CONFLICT",
]);

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StrataError";
    this.code = code;
    this.details = details;
  }

  get kind(): ErrorKind {
    return USER_CODES.has(this.code) ? "user" : "system";
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** Wraps anything thrown into a StrataError, keeping StrataErrors as they are. */
export function asStrataError(err: unknown): StrataError {
  if (err instanceof StrataError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StrataError("INTERNAL", message, undefined, { cause: err });
}
