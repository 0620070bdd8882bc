import type { ErrorCode } from "../errors.js";

/** HTTP status per error code: chosen here and nowhere else. */
const STATUS: Record<ErrorCode, number> = {
  INVALID_CONFIG: 400,
  INVALID_ARGUMENT: 400,
  INVALID_ARCHIVE: 400,
  ARCHIVE_TOO_LARGE: 413,
  NOT_FOUND: 404,
  APP_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  UNAUTHORIZED: 401,
  BUILD_FAILED: 422,
  UNSUPPORTED_RUNTIME: 422,
  SANDBOX_UNAVAILABLE: 422,
  COMMAND_FAILED: 500,
  DRIVER_FAILED: 500,
  INSTANCE_FAILED: 503,
  DAEMON_UNREACHABLE: 502,
  INTERNAL: 500,
};

export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code];
}
