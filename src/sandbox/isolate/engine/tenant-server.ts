import { unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { UrlParts } from "../prelude/host.js";
import { urlParts } from "./host-bridge.js";
import type { DispatchRequest } from "../prelude/dispatch.js";
import type { BodyStream, Tenant } from "./tenant.js";

const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** Request URLs parsed lately (the same few URLs come again and again), shared by every tenant. */
const PARSED = new Map<string, UrlParts>();
const PARSED_MAX = 1024;

function parseUrl(raw: string): UrlParts {
  let parts = PARSED.get(raw);
  if (!parts) {
    parts = urlParts(new URL(raw)); // throws on an invalid URL
    if (PARSED.size >= PARSED_MAX) PARSED.delete(PARSED.keys().next().value!);
    PARSED.set(raw, parts);
  }
  return parts;
}

/**
 * The tenant's endpoint: an HTTP server on its own unix socket, served by the engine, so the
 * router reaches an isolate tenant like any other instance. Request bodies are read whole before
 * the worker runs (up to MAX_BODY_BYTES); response bodies that are streams are sent as the worker
 * produces them.
 */
export async function serveTenant(tenant: Tenant, socketPath: string): Promise<Server> {
  // A leftover socket file (a crashed engine's) would make listen() fail. Synchronous: one syscall,
  // cheaper on the cold-start path than a round trip through the thread pool.
  try {
    unlinkSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const server = createServer((req, res) => {
    answer(tenant, req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`engine error: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

/** Reads the request body whole; null when the request has none, or when it was refused (413 sent). */
async function readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer | null | "refused"> {
  // No Content-Length and no Transfer-Encoding: no body (RFC 9112 §6.3), so nothing to wait for.
  if (req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined) {
    req.resume();
    return null;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) {
      res.writeHead(413, { "content-type": "text/plain", connection: "close" });
      res.end(`request body larger than ${MAX_BODY_BYTES} bytes\n`);
      req.destroy();
      return "refused";
    }
    chunks.push(c);
  }
  return size ? Buffer.concat(chunks) : null;
}

async function answer(tenant: Tenant, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req, res);
  if (body === "refused") return;
  const proto = String(req.headers["x-forwarded-proto"] ?? "http").split(",")[0]!.trim() === "https" ? "https" : "http";
  let url: UrlParts;
  try {
    url = parseUrl(`${proto}://${req.headers.host ?? "localhost"}${req.url ?? "/"}`);
  } catch {
    res.writeHead(400, { "content-type": "text/plain" });
    res.end("bad request: the Host header and path do not form a valid URL\n");
    return;
  }
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
  const dispatch: DispatchRequest = {
    method: req.method ?? "GET",
    url: url.href,
    urlParts: url,
    headers,
    body: body ? (body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer) : null,
  };
  const out = await tenant.handle(dispatch);
  const grouped: Record<string, string | string[]> = {};
  for (const [k, v] of out.headers) {
    if (k === "content-length" || k === "transfer-encoding" || k === "connection") continue; // node frames the body
    const prev = grouped[k];
    grouped[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  res.writeHead(out.status, out.statusText || undefined, grouped);
  if (!out.stream) {
    res.end(out.body && req.method !== "HEAD" ? out.body : undefined);
    return;
  }
  res.flushHeaders(); // the client sees the head now, before the worker's first chunk
  await pump(out.stream, res);
}

/**
 * Sends a streamed body: one chunk is read from the isolate only after the socket took the last
 * one, so a slow client holds back the worker's stream instead of filling the engine's memory.
 * A failed stream cuts the response off (no final chunk), so the client sees it incomplete; a
 * client that goes away cancels the worker's stream.
 */
async function pump(stream: BodyStream, res: ServerResponse): Promise<void> {
  const leftEarly = "the client closed the connection before the response body ended";
  if (res.destroyed || !res.socket || res.socket.destroyed) {
    stream.cancel(leftEarly); // it went away while the worker was still answering
    return;
  }
  const gone = new Promise<"gone">((resolve) => res.once("close", () => resolve("gone")));
  res.once("close", () => {
    if (!res.writableFinished) stream.cancel(leftEarly);
  });
  for (;;) {
    let chunk: Uint8Array | null;
    try {
      chunk = await stream.read();
    } catch {
      res.destroy(); // the tenant's log already says why
      return;
    }
    if (chunk === null) break;
    if (res.destroyed) return;
    if (!res.write(chunk)) {
      const drained = new Promise<"drained">((resolve) => res.once("drain", () => resolve("drained")));
      if ((await Promise.race([drained, gone])) === "gone") return;
    }
  }
  res.end();
}
