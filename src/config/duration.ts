/**
 * App Engine durations. Two grammars exist in app.yaml:
 * - `expiration` / `default_expiration`: whole numbers with d, h, m or s, space-separated ("4d 5h 30m
 *   10s"); a bare number is seconds (App Engine's appinfo allows that).
 * - everything else (pending latencies, idle timeouts): numbers with ms, s, m, h or d ("30ms", "1.5s",
 *   "15m", "1h 30m"). A bare number is refused there: "30" could mean seconds or milliseconds.
 */
import { StrataError } from "../errors.js";

const UNIT_MS: Readonly<Record<string, number>> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

const DURATION_RE = /^\s*(?:\d+(?:\.\d+)?(?:ms|[dhms])\s*)+$/i;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|[dhms])/gi;
const EXPIRATION_RE = /^\s*\d+[dhms]?(?:\s+\d+[dhms]?)*\s*$/i;
const EXPIRATION_PART_RE = /(\d+)([dhms]?)/gi;

export const DURATION_FORMAT = 'a duration like "30ms", "1.5s", "15m", "2h" or "1d 12h"';
export const EXPIRATION_FORMAT = 'an App Engine expiration like "4d 5h 30m 10s", "1d" or "0s"';

function sumParts(s: string, partRe: RegExp, defaultUnit: string): number {
  let ms = 0;
  for (const [, amount, unit] of s.matchAll(partRe)) {
    ms += Number(amount) * (UNIT_MS[(unit || defaultUnit).toLowerCase()] as number);
  }
  return Math.round(ms);
}

/** Why `s` is not a duration, or undefined when it is one. */
export function durationProblem(s: string): string | undefined {
  if (DURATION_RE.test(s)) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(s)) return `"${s}" has no unit; write ${s.trim()}ms, ${s.trim()}s or ${s.trim()}m`;
  return `"${s}" is not ${DURATION_FORMAT}`;
}

/** Why `s` is not an expiration, or undefined when it is one. */
export function expirationProblem(s: string): string | undefined {
  return EXPIRATION_RE.test(s) ? undefined : `"${s}" is not ${EXPIRATION_FORMAT}`;
}

/** Milliseconds in an App Engine duration ("4d 5h 30m 10s", "30s", "500ms", "15m"). */
export function parseDuration(s: string): number {
  const problem = durationProblem(s);
  if (problem !== undefined) throw new StrataError("INVALID_CONFIG", problem, { value: s, allowed: DURATION_FORMAT });
  return sumParts(s, DURATION_PART_RE, "s");
}

/** Seconds in an App Engine `expiration` ("4d 5h 30m 10s", "1d", "0s", or bare seconds "60"). */
export function expirationSeconds(s: string): number {
  const problem = expirationProblem(s);
  if (problem !== undefined) throw new StrataError("INVALID_CONFIG", problem, { value: s, allowed: EXPIRATION_FORMAT });
  return sumParts(s, EXPIRATION_PART_RE, "s") / 1000;
}
