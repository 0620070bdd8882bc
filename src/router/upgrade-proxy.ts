import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Endpoint } from "../sandbox/index.js";
import { endToEndHeaders, forwardedHeaders, type ForwardResult } from "./proxy.js";

/** The client's side of an upgrade request: its socket, and any bytes it sent after the request's head. */
export interface UpgradeClient {
  readonly socket: Duplex;
  readonly head: Buffer;
}

/**
 * Forwards an HTTP/1.1 upgrade request (RFC 9110 §7.8; WebSocket's opening handshake, RFC 6455 §4) to an
 * instance over a connection of its own (never a pooled one: it becomes the tunnel). When the instance
 * answers 101 its head goes to the client as the instance wrote it (Sec-WebSocket-Accept is computed over
 * the key the client sent, which goes through unchanged), and from then on the two sockets are piped
 * both ways until either side closes: frames are the app's business, not the router's. Any other answer
 * (the app refused to upgrade) goes to the client through `res` as a plain response, after which the
 * connection closes. `onDone` is called once, as for `Proxy.forward()`: after the tunnel closed, or the
 * plain answer ended, or unanswered/failed with nothing written to the client.
 */
export function forwardUpgrade(req: IncomingMessage, res: ServerResponse, client: UpgradeClient, endpoint: Endpoint, onDone: (result: ForwardResult) => void): void {
  let finished = false;
  const done = (result: ForwardResult): void => {
    if (finished) return;
    finished = true;
    onDone(result);
  };
  const headers = forwardedHeaders(req);
  // Connection and Upgrade are hop-by-hop, dropped by forwardedHeaders(); an upgrade carries them on.
  headers["connection"] = "Upgrade";
  headers["upgrade"] = req.headers.upgrade ?? "websocket";
  let connected = false;
  let answered = false;
  const upstream = http.request({
    ...("socket" in endpoint ? { socketPath: endpoint.socket } : { host: endpoint.host, port: endpoint.port }),
    method: req.method,
    path: req.url,
    headers,
    agent: false,
  });
  upstream.on("socket", (socket) => {
    if (!socket.connecting) connected = true;
    else socket.once("connect", () => (connected = true));
  });
  // The client left while the instance was being reached: nobody is there to tunnel to. Its FIN shows
  // as "end" only: the router's server allows half-open sockets, and Node stops handling that at upgrade.
  const clientGone = (): void => {
    if (answered) return;
    done({ kind: "done", error: new Error("the client closed the connection before the instance answered the upgrade") });
    upstream.destroy();
  };
  client.socket.once("close", clientGone);
  client.socket.once("end", clientGone);

  upstream.on("upgrade", (up: IncomingMessage, tunnel: Duplex, upHead: Buffer) => {
    answered = true;
    client.socket.off("close", clientGone).off("end", clientGone);
    if (client.socket.destroyed) {
      tunnel.destroy();
      return done({ kind: "done", error: new Error("the client closed the connection during the upgrade") });
    }
    res.statusCode = 101; // for the access line: the head below is written to the socket directly
    const head = [`HTTP/1.1 101 ${up.statusMessage || "Switching Protocols"}`];
    for (let i = 0; i + 1 < up.rawHeaders.length; i += 2) head.push(`${up.rawHeaders[i]}: ${up.rawHeaders[i + 1]}`);
    client.socket.write(head.join("\r\n") + "\r\n\r\n");
    if (upHead.length > 0) client.socket.write(upHead);
    if (client.head.length > 0) tunnel.write(client.head);
    let error: Error | undefined;
    let open = 2;
    const closed = (): void => {
      if (--open === 0) done(error ? { kind: "done", error } : { kind: "done" });
    };
    // Either side's error or close ends both: a half-open tunnel would hold the instance's lease forever.
    const end = (err?: Error): void => {
      error ??= err;
      client.socket.destroy();
      tunnel.destroy();
    };
    tunnel.on("error", end);
    client.socket.on("error", end);
    tunnel.once("close", () => {
      closed();
      end();
    });
    client.socket.once("close", () => {
      closed();
      end();
    });
    tunnel.pipe(client.socket);
    client.socket.pipe(tunnel);
  });

  upstream.on("response", (up) => {
    answered = true;
    client.socket.off("close", clientGone).off("end", clientGone);
    res.writeHead(up.statusCode ?? 502, up.statusMessage, endToEndHeaders(up.headers));
    up.pipe(res);
    up.on("end", () => done({ kind: "done" }));
    up.on("error", (err) => {
      res.destroy(err);
      done({ kind: "done", error: err });
    });
  });

  upstream.on("error", (err: NodeJS.ErrnoException) => {
    if (answered) return; // the tunnel's or response's own handlers report it
    // Never connected: the app cannot have seen it, and an upgrade request has no body, so it can go again.
    if (!connected) return done({ kind: "unanswered", error: err, unreachable: true });
    done({ kind: "failed", error: err });
  });
  upstream.end();
}
