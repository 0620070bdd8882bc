import { randomBytes } from "node:crypto";
import { STATUS_CODES, type OutgoingHttpHeaders, type ServerResponse } from "node:http";

/** Names the router's own error answers, so the one a visitor reports is found in `strata logs`. */
export const REQUEST_ID_HEADER = "x-strata-request-id";

/** What the app's log records of an error the router answered: the detail the client is not shown. */
export interface RouterFailure {
  requestId: string;
  error: string;
}

/**
 * Answers with the router's own error. The body says what happened in general terms only: the detail
 * (an instance's last output lines, addresses) may hold the app's secrets and goes to its log instead,
 * under the request id given here and in the header.
 */
export function sendPublicError(res: ServerResponse, app: string, status: number, what: string, err: unknown, headers: OutgoingHttpHeaders = {}): RouterFailure {
  const failure = { requestId: randomBytes(8).toString("hex"), error: err instanceof Error ? err.message : String(err) };
  const body = `${status} ${STATUS_CODES[status] ?? ""}: ${what}\nrequest id: ${failure.requestId} (the app's owner sees what happened with: strata logs ${app})\n`;
  res.writeHead(status, {
    ...headers,
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    [REQUEST_ID_HEADER]: failure.requestId,
  });
  res.end(body);
  return failure;
}
