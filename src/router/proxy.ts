import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { Endpoint } from "../sandbox/index.js";

/** Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Methods a server must treat as safe to repeat (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

/**
 * How a forward ended. `unanswered`: the app never got the request (its instance refused the connection,
 * or a pooled connection had been closed by the app), nothing was written to the client, and the caller
 * may send it again (elsewhere when `unreachable`) or answer with a 502. `failed`: the app may have got
 * it but no answer came, nothing was written to the client, and the caller answers with a 502.
 */
export type ForwardResult =
  | { kind: "done"; error?: Error }
  | { kind: "unanswered"; error: Error; unreachable: boolean }
  | { kind: "failed"; error: Error };

/** The request's end-to-end headers, plus X-Forwarded-* and a trace context for the instance. */
export function forwardedHeaders(req: IncomingMessage): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
  }
  const client = req.socket.remoteAddress ?? "";
  const prior = req.headers["x-forwarded-for"];
  headers["x-forwarded-for"] = prior ? `${String(prior)}, ${client}` : client;
  headers["x-forwarded-proto"] ??= "http";
  if (req.headers.host) headers["x-forwarded-host"] ??= req.headers.host;
  // App Engine hands apps a trace context on every request; keep the caller's if it sent one.
  headers["x-cloud-trace-context"] ??= `${randomBytes(16).toString("hex")}/${BigInt("0x" + randomBytes(8).toString("hex"))};o=1`;
  return headers;
}

/** Response headers the client gets: the instance's, less the hop-by-hop ones. */
export function endToEndHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
  }
  return out;
}

/** A request with no body can be sent twice; a body is streamed through once and not kept. */
function replayable(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] === undefined && Number(req.headers["content-length"] ?? 0) === 0;
}

/** Forwards requests to instance endpoints over pooled keep-alive connections, one agent per endpoint. */
export class Proxy {
  private readonly agents = new Map<string, http.Agent>();

  /** `onDone` is called once: when the response ended, with the error that cut it short, or unanswered. */
  forward(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, onDone: (result: ForwardResult) => void): void {
    let finished = false;
    const done = (result: ForwardResult) => {
      if (finished) return;
      finished = true;
      onDone(result);
    };
    const key = "socket" in endpoint ? endpoint.socket : `${endpoint.host}:${endpoint.port}`;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, timeout: 60_000 });
      this.agents.set(key, agent);
    }
    const headers = forwardedHeaders(req);

    let answered = false;
    let connected = false;
    const upstream = http.request(
      {
        ...("socket" in endpoint ? { socketPath: endpoint.socket } : { host: endpoint.host, port: endpoint.port }),
        method: req.method,
        path: req.url,
        headers,
        agent,
      },
      (up) => {
        answered = true;
        res.writeHead(up.statusCode ?? 502, up.statusMessage, endToEndHeaders(up.headers));
        // A body of unknown length is a stream (chunked, server-sent events): its head goes out now, not
        // with the first chunk, which may come much later.
        if (up.headers["content-length"] === undefined) res.flushHeaders();
        up.pipe(res);
        up.on("end", () => done({ kind: "done" }));
        up.on("error", (err) => {
          res.destroy(err);
          done({ kind: "done", error: err });
        });
      },
    );
    upstream.on("socket", (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once("connect", () => (connected = true));
    });
    upstream.on("error", (err: NodeJS.ErrnoException) => {
      if (!answered && !res.headersSent && replayable(req)) {
        // Never connected: the app cannot have seen it. A pooled connection the app had closed: it did
        // not either (Node's advice for the keep-alive race), but only a repeatable method is resent.
        if (!connected) return done({ kind: "unanswered", error: err, unreachable: true });
        const staleSocket = upstream.reusedSocket && (err.code === "ECONNRESET" || err.code === "EPIPE");
        if (staleSocket && IDEMPOTENT.has(req.method ?? "GET")) return done({ kind: "unanswered", error: err, unreachable: false });
      }
      if (!res.headersSent) return done({ kind: "failed", error: err });
      res.destroy(err);
      done({ kind: "done", error: err });
    });
    // The client went away before the whole response: end the instance's side too, or a streaming app
    // keeps producing for nobody until the connection times out.
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    // A body-less request is not piped: a retry would pipe an already ended request and never end.
    if (replayable(req)) upstream.end();
    else req.pipe(upstream);
  }

  /** Drops the pooled connections to an endpoint (its instance stopped). */
  forget(endpoint: Endpoint): void {
    const key = "socket" in endpoint ? endpoint.socket : `${endpoint.host}:${endpoint.port}`;
    this.agents.get(key)?.destroy();
    this.agents.delete(key);
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}
