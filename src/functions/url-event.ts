/**
 * Lambda function URLs: an HTTP request becomes the event of payload format version 2.0, and what the
 * function returns becomes the HTTP response by Lambda's response format (statusCode, headers, cookies,
 * body, isBase64Encoded; a result without statusCode is a 200 JSON body).
 */

export interface UrlRequest {
  method: string;
  /** Path and query as sent (`/a/b?x=1`). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  sourceIp: string;
  body: Buffer;
}

export interface UrlEventContext {
  functionName: string;
  /** The host the request came to (`NAME.fn.localhost`). */
  domainName: string;
  requestId: string;
  now: Date;
}

export interface UrlEvent {
  version: "2.0";
  routeKey: "$default";
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: {
    accountId: "anonymous";
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: "$default";
    stage: "$default";
    time: string;
    timeEpoch: number;
  };
  body?: string;
  isBase64Encoded: boolean;
}

/** Bodies of these types travel as text; everything else base64-encoded, as function URLs send them. */
const TEXT_TYPES = /^(text\/|application\/(json|.*\+json|xml|.*\+xml|javascript|x-www-form-urlencoded|yaml|graphql))/i;

export function isTextBody(contentType: string | undefined): boolean {
  return contentType !== undefined && TEXT_TYPES.test(contentType.trim());
}

/** Apache's common log time, as requestContext.time carries it: `12/Mar/2020:19:03:58 +0000`. */
function clfTime(d: Date): string {
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function toUrlEvent(req: UrlRequest, ctx: UrlEventContext): UrlEvent {
  const q = req.url.indexOf("?");
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQueryString = q < 0 ? "" : req.url.slice(q + 1);
  // Header names lowercased, repeated headers joined with commas; cookies go to their own field.
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const joined = Array.isArray(value) ? value.join(",") : value;
    if (name.toLowerCase() === "cookie") {
      cookies = joined.split(/;\s*/).filter((c) => c.length > 0);
      continue;
    }
    headers[name.toLowerCase()] = joined;
  }
  let queryStringParameters: Record<string, string> | undefined;
  if (rawQueryString) {
    queryStringParameters = {};
    for (const [k, v] of new URLSearchParams(rawQueryString)) queryStringParameters[k] = k in queryStringParameters ? `${queryStringParameters[k]},${v}` : v;
  }
  const text = isTextBody(headers["content-type"]);
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString,
    ...(cookies && { cookies }),
    headers,
    ...(queryStringParameters && { queryStringParameters }),
    requestContext: {
      accountId: "anonymous",
      apiId: ctx.functionName,
      domainName: ctx.domainName,
      domainPrefix: ctx.functionName,
      http: { method: req.method, path: decodeURIComponent(rawPath), protocol: "HTTP/1.1", sourceIp: req.sourceIp, userAgent: headers["user-agent"] ?? "" },
      requestId: ctx.requestId,
      routeKey: "$default",
      stage: "$default",
      time: clfTime(ctx.now),
      timeEpoch: ctx.now.getTime(),
    },
    ...(req.body.length > 0 && { body: text ? req.body.toString("utf8") : req.body.toString("base64") }),
    isBase64Encoded: req.body.length > 0 && !text,
  };
}

export interface UrlResponse {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
  body: Buffer;
}

/** The function's result as an HTTP response, by Lambda's response format 2.0 rules. */
export function fromUrlResult(payload: Buffer): UrlResponse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString("utf8"));
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed === "object" && !Array.isArray(parsed) && "statusCode" in parsed) {
    const r = parsed as { statusCode: unknown; headers?: Record<string, unknown>; cookies?: unknown; body?: unknown; isBase64Encoded?: unknown };
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = String(v);
    const bodyText = r.body === undefined || r.body === null ? "" : typeof r.body === "string" ? r.body : JSON.stringify(r.body);
    return {
      statusCode: Number(r.statusCode) || 200,
      headers,
      cookies: Array.isArray(r.cookies) ? r.cookies.map(String) : [],
      body: r.isBase64Encoded === true ? Buffer.from(bodyText, "base64") : Buffer.from(bodyText, "utf8"),
    };
  }
  // Anything else (an object without statusCode, a string, a number, null) is the body of a JSON 200.
  return { statusCode: 200, headers: { "content-type": "application/json" }, cookies: [], body: payload };
}
