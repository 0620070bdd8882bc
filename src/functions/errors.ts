/**
 * Lambda's error shapes. An invocation that fails inside the function answers 200 with
 * X-Amz-Function-Error and an error document `{errorType, errorMessage, stackTrace}`; the Invoke API's own
 * refusals (throttling, a payload too large) are HTTP errors with Lambda's exception names.
 */

/** Handled: the runtime caught the error and reported it; Unhandled: the platform found it (timeout, exit, init). */
export type FunctionErrorKind = "Handled" | "Unhandled";

export interface LambdaErrorDocument {
  errorType: string;
  errorMessage: string;
  stackTrace?: string[];
}

/** An Invoke API refusal as Lambda names it (TooManyRequestsException, RequestTooLargeException, ...). */
export class InvokeRefused extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    /** Lambda's `Reason` (ReservedFunctionConcurrentInvocationLimitExceeded for a throttle). */
    readonly reason?: string,
  ) {
    super(message);
  }

  /** The body Lambda answers with (its x-amzn-ErrorType header carries `type`). */
  toJSON(): { Type: "User"; message: string; Reason?: string } {
    return { Type: "User", message: this.message, ...(this.reason && { Reason: this.reason }) };
  }
}

/** The error document a runtime posted, read leniently: the spec lets a runtime post any body. */
export function errorDocumentOf(body: Buffer, headerType: string | undefined): LambdaErrorDocument {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as Partial<LambdaErrorDocument>;
    if (parsed && typeof parsed === "object") {
      return {
        errorType: typeof parsed.errorType === "string" ? parsed.errorType : (headerType ?? "Runtime.Unknown"),
        errorMessage: typeof parsed.errorMessage === "string" ? parsed.errorMessage : "",
        ...(Array.isArray(parsed.stackTrace) && { stackTrace: parsed.stackTrace.map(String) }),
      };
    }
  } catch {
    // Lambda's documented fallback: the Lambda-Runtime-Function-Error-Type header makes the error.
  }
  return { errorType: headerType ?? "Runtime.Unknown", errorMessage: body.toString("utf8") };
}
