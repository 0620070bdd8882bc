import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { asStrataError } from "../errors.js";
import type { FunctionUrlHandler } from "../router/index.js";
import type { VersionRecord } from "../store/index.js";
import { InvokeRefused } from "./errors.js";
import { MAX_SYNC_PAYLOAD_BYTES, type Invoker } from "./invoker.js";
import { fromUrlResult, toUrlEvent } from "./url-event.js";

export interface FunctionUrlsDeps {
  invoker: Pick<Invoker, "invoke">;
  versionOf(fn: string, version: string): VersionRecord | undefined;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Function URLs as Lambda serves them: the request (up to 6 MB) is an event of payload format 2.0, the
 * result is the response; a function error is 502 (Lambda's "Internal Server Error"), a throttle 429.
 */
export class FunctionUrls implements FunctionUrlHandler {
  constructor(private readonly deps: FunctionUrlsDeps) {}

  serve(fn: string, version: string, req: IncomingMessage, res: ServerResponse): void {
    this.run(fn, version, req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err instanceof InvokeRefused) return send(res, err.status, { Message: err.message }, { "x-amzn-errortype": err.type });
      const e = asStrataError(err);
      send(res, e.code === "INSTANCE_FAILED" ? 503 : 500, { Message: e.code === "INSTANCE_FAILED" ? "Service Unavailable" : "Internal Server Error" });
    });
  }

  private async run(fn: string, version: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const v = this.deps.versionOf(fn, version);
    if (!v) return send(res, 404, { Message: `function ${fn} has no version ${version}` });
    const body = await readLimited(req, MAX_SYNC_PAYLOAD_BYTES);
    if (!body) return send(res, 413, { Message: "Request must be smaller than 6291456 bytes for the InvokeFunction operation" }, { "x-amzn-errortype": "RequestTooLargeException" });
    const requestId = randomUUID();
    const event = toUrlEvent(
      { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "", body },
      { functionName: fn, domainName: (req.headers.host ?? "").split(":")[0]!, requestId, now: new Date() },
    );
    const result = await this.deps.invoker.invoke(v, Buffer.from(JSON.stringify(event)), { requestId });
    if (result.functionError) return send(res, 502, { Message: "Internal Server Error" }, { "x-amzn-requestid": result.requestId });
    const out = fromUrlResult(result.payload);
    const headers: Record<string, string | string[]> = { ...out.headers, "x-amzn-requestid": result.requestId, "content-length": String(out.body.length) };
    if (out.cookies.length) headers["set-cookie"] = out.cookies;
    res.writeHead(out.statusCode, headers);
    res.end(req.method === "HEAD" ? undefined : out.body);
  }
}

/** The body, or null when it is larger than `limit` (the rest is read and dropped, so the 413 arrives). */
async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return size > limit ? null : Buffer.concat(chunks);
}
