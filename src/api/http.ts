import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { StrataError, asStrataError } from "../errors.js";
import { httpStatusOf } from "./status.js";

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const e = asStrataError(err);
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, httpStatusOf(e.code), { error: e.toJSON() });
}

/** Starts an NDJSON stream; each write() is one JSON value on its own line. */
export function startStream(res: ServerResponse): (value: unknown) => void {
  res.writeHead(200, { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-cache" });
  res.flushHeaders();
  return (value) => {
    if (!res.writableEnded) res.write(JSON.stringify(value) + "\n");
  };
}

export async function readJsonBody<S extends z.ZodType>(req: IncomingMessage, schema: S, limit = 1024 * 1024): Promise<z.infer<S>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new StrataError("INVALID_ARGUMENT", `request body is larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  let value: unknown;
  try {
    value = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {};
  } catch (err) {
    throw new StrataError("INVALID_ARGUMENT", `request body is not valid JSON: ${(err as Error).message}`);
  }
  return parseInput(schema, value);
}

export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "(input)"}: ${i.message}`);
    throw new StrataError("INVALID_ARGUMENT", issues.join("; "), { issues });
  }
  return r.data;
}

export function queryOf(req: IncomingMessage): Record<string, string> {
  const url = new URL(req.url ?? "/", "http://api");
  return Object.fromEntries(url.searchParams.entries());
}
