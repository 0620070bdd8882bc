import { unlinkSync } from "node:fs";
import { createServer, ServerResponse, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { UrlParts } from "../prelude/host.js";
import { urlParts } from "./host-bridge.js";
import type { DispatchRequest } from "../prelude/dispatch.js";
import { RequestBody } from "./request-body.js";
import type { BodyStream, Tenant } from "./tenant.js";

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
 * router reaches an isolate tenant like any other instance. The worker is called as soon as a
 * request's head arrives; its body is read from the client as the worker reads `request.body` (up to
 * the tenant's maxRequestBodyBytes), and response bodies that are streams are sent as the worker
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
  // A WebSocket upgrade goes to the worker like any request; a 101 with a WebSocketPair end completes the
  // handshake (ws's), any other answer is written to the socket as a plain response.
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const res = new ServerResponse(req);
    res.assignSocket(socket as import("node:net").Socket);
    res.once("finish", () => socket.end());
    answer(tenant, req, res, { socket, head }).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" }).end(`engine error: ${err instanceof Error ? err.message : String(err)}\n`);
      else socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

/** How much of a refused body is still read (and dropped) before the 413, rather than cutting the connection. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

/** Responses that are a 413 refusal (sent, or waiting for the body's end): the worker's answer is dropped. */
const refusing = new WeakSet<ServerResponse>();

/**
 * Answers 413 once the rest of the body has been read and dropped, so the connection stays usable. A
 * server that answers early and closes fails the client's next write (the router's proxy may see that
 * before the 413, and answer 502); one that answers early and keeps the connection leaves Node's parser
 * behind the body, and the next request on that connection waits. Past DRAIN_MAX_BYTES still to come the
 * 413 goes at once and the connection closes.
 */
function refuse(req: IncomingMessage, res: ServerResponse, message: string): void {
  refusing.add(res);
  const answer = (close: boolean): void => {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(413, { "content-type": "text/plain", ...(close && { connection: "close" }) });
    res.end(`${message}\n`, close ? () => req.destroy() : undefined);
  };
  if (req.complete) return answer(false);
  if (Number(req.headers["content-length"] ?? 0) > DRAIN_MAX_BYTES) return answer(true);
  let drained = 0;
  req.on("data", (c: Buffer) => {
    drained += c.length;
    if (drained > DRAIN_MAX_BYTES) answer(true);
  });
  req.once("end", () => answer(false));
  req.resume();
}

/**
 * The request's body, read as the worker pulls it; null when it has none. A declared length over the
 * cap is refused before the worker is called; a body that grows past it later is refused with 413 if
 * the response has not begun, else it fails in the worker (which learns why from its read).
 */
function requestBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): RequestBody | null | "refused" {
  const length = req.headers["content-length"];
  // No Content-Length and no Transfer-Encoding: no body (RFC 9112 §6.3). A GET or HEAD body is read
  // (within the cap) but not given to the worker: the Request API refuses one.
  if ((length === undefined && req.headers["transfer-encoding"] === undefined) || Number(length) === 0) {
    req.resume();
    return null;
  }
  if (length !== undefined && Number(length) > maxBytes) {
    refuse(req, res, `request body larger than ${maxBytes} bytes`);
    return "refused";
  }
  const body = new RequestBody(req, maxBytes, (message) => {
    if (res.headersSent) return;
    body.drainAfterRefusal();
    refuse(req, res, message);
  });
  // The response is over (sent, cut off, or the client left): nobody reads the body any further.
  res.once("close", () => body.close());
  return body;
}

const websockets = new WebSocketServer({ noServer: true });

async function answer(tenant: Tenant, req: IncomingMessage, res: ServerResponse, upgrade?: { socket: Duplex; head: Buffer }): Promise<void> {
  const body = upgrade ? null : requestBody(req, res, tenant.config.maxRequestBodyBytes);
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
    body: null,
    bodyStream: null,
  };
  const out = await tenant.handle(dispatch, body);
  if (out.webSocket !== undefined) {
    const id = out.webSocket;
    if (!upgrade || req.headers.upgrade?.toLowerCase() !== "websocket") {
      tenant.webSocketFailed(id, 1006, "the request was not a WebSocket upgrade");
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("the worker answered with a WebSocket (101) a request that did not ask to upgrade\n");
      return;
    }
    res.detachSocket(upgrade.socket as import("node:net").Socket);
    let joined = false;
    websockets.handleUpgrade(req, upgrade.socket, upgrade.head, (ws) => {
      joined = true;
      const link = tenant.connectWebSocket(id, { send: (data) => ws.send(data), close: (code, reason) => ws.close(code, reason) });
      if (!link) return ws.close(1011, "the worker is unavailable");
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        link.message(isBinary ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer : data.toString("utf8"));
      });
      ws.on("close", (code: number, reason: Buffer) => link.closed(code, reason.toString("utf8")));
      ws.on("error", () => ws.terminate()); // a protocol error from the client: ws closes with 1002 and reports close
    });
    // ws answers a bad handshake (a missing key, a wrong version) with a 400 itself, without calling back
    // (and calls back at once otherwise): the worker's end learns the connection never opened.
    if (!joined) tenant.webSocketFailed(id, 1006, "the WebSocket handshake with the client failed");
    return;
  }
  if (res.headersSent || refusing.has(res)) {
    out.stream?.cancel("the request was refused (413) before the worker answered"); // its answer goes nowhere
    return;
  }
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
