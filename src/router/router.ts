import http, { ServerResponse, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { StrataError } from "../errors.js";
import { closeServer, listenOn } from "../system/http-server.js";
import type { LogStore } from "../logs/index.js";
import type { InstanceSource } from "./backend.js";
import { FUNCTION_URL_LABEL, parseFunctionHost, parseHost } from "./host.js";
import { unknownHostPage } from "./not-found.js";
import { Proxy } from "./proxy.js";
import { sendPublicError, type RouterFailure } from "./public-error.js";
import { forwardUpgrade, type UpgradeClient } from "./upgrade-proxy.js";
import { EMPTY_TABLE, type AppRoute, type RouteTable, type VersionTarget } from "./route-table.js";
import { ipPoint, newStickyBucket, STICKY_COOKIE, stickyBucket, versionAt } from "./traffic.js";

export interface RouterOptions {
  domain: string;
  defaultApp?: string;
  logs: LogStore;
  instances: InstanceSource;
  /** Serves function URLs (NAME.fn.DOMAIN): Lambda's payload format 2.0 in, its response format out. */
  functionUrls?: FunctionUrlHandler;
  /** Called once per request after the response ends (metrics). */
  onRequest?: (info: { app: string; version: string; status: number; latencyMs: number }) => void;
}

/** The port the router calls for a function URL request (the functions layer implements it). */
export interface FunctionUrlHandler {
  serve(fn: string, version: string, req: IncomingMessage, res: ServerResponse): void;
}

/** Sends of one request that the app never saw (a refused connection, a closed pooled one). */
const MAX_TRIES = 3;

/** HTTP ingress: Host → app → version (traffic split) → static files or an instance. */
export class Router {
  private table: RouteTable = EMPTY_TABLE;
  private readonly proxy = new Proxy();
  private server: http.Server | undefined;
  /** Upgraded connections (WebSockets): the server no longer tracks them, so close() ends them itself. */
  private readonly upgraded = new Set<Duplex>();

  constructor(private readonly opts: RouterOptions) {}

  /** Atomically replaces the route table. */
  setTable(table: RouteTable): void {
    this.table = table;
  }

  get routes(): RouteTable {
    return this.table;
  }

  async listen(port: number, host: string): Promise<number> {
    const server = http.createServer({ keepAlive: true, keepAliveTimeout: 65_000 }, (req, res) => this.handle(req, res));
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.server = server;
    return listenOn(server, port, host);
  }

  async close(): Promise<void> {
    this.proxy.close();
    for (const socket of this.upgraded) socket.destroy();
    await closeServer(this.server);
  }

  forgetEndpoint(...args: Parameters<Proxy["forget"]>): void {
    this.proxy.forget(...args);
  }

  /**
   * An HTTP/1.1 upgrade request (a WebSocket handshake): routed as any request (the activator cold-starts
   * an instance at zero), then tunnelled to the instance (upgrade-proxy.ts). The router's own answers
   * (404, 503, a static file) are written to the socket through a response of its own, and the
   * connection closes after them, since Node no longer parses requests on an upgrade's socket.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node leaves an upgrade's socket without an error listener: a client's reset must not crash the daemon.
    socket.on("error", () => socket.destroy());
    this.upgraded.add(socket);
    socket.once("close", () => this.upgraded.delete(socket));
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once("finish", () => socket.end());
    // The body of an upgrade request would be in the socket, unframed by Node: not forwarded, so refused
    // (a WebSocket handshake is a GET without one; h2c's upgrade of a POST is the rare case).
    if (req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0) {
      res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      res.end("an upgrade request with a body is not supported; send it without the Upgrade header\n");
      return;
    }
    this.handle(req, res, { socket, head });
  }

  handle(req: IncomingMessage, res: ServerResponse, upgrade?: UpgradeClient): void {
    const started = performance.now();
    const fn = this.opts.functionUrls ? parseFunctionHost(req.headers.host, this.opts.domain) : null;
    if (fn !== null) return this.functionUrl(fn, req, res, started);
    const target = parseHost(req.headers.host, this.opts.domain, this.opts.defaultApp);
    const route = target && this.table.apps.get(target.app);
    if (!target || !route) {
      const page = unknownHostPage(req.headers.host ?? "(no Host header)", this.opts.domain);
      res.writeHead(404, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(page) });
      res.end(req.method === "HEAD" ? undefined : page);
      return;
    }
    const version = target.version !== undefined ? route.versions.get(target.version) : this.pick(route, req, res);
    if (!version) {
      const why =
        target.version !== undefined
          ? `version "${target.version}" of app "${target.app}" is not deployed or not ready (see: strata versions ${target.app})`
          : `app "${target.app}" has no version receiving traffic (see: strata traffic migrate ${target.app} VERSION)`;
      res.writeHead(target.version !== undefined ? 404 : 503, { "content-type": "text/plain; charset=utf-8" });
      res.end(why + "\n");
      return;
    }
    let instanceId: string | undefined;
    let failure: RouterFailure | undefined;
    // Bytes sent for this response, headers included (as Apache's %O): keep-alive requests on one
    // connection are sequential, so the socket's counter moves by exactly this response.
    const bytesBefore = req.socket.bytesWritten;
    let logged = false;
    const logAccess = (): void => {
      if (logged) return;
      logged = true;
      const latencyMs = performance.now() - started;
      this.opts.logs.append({
        kind: "access",
        time: new Date().toISOString(),
        app: target.app,
        version: version.version,
        method: req.method ?? "GET",
        path: req.url ?? "/",
        status: res.statusCode,
        bytes: req.socket.bytesWritten - bytesBefore,
        latencyMs: Math.round(latencyMs * 1000) / 1000,
        ...(instanceId !== undefined && { instance: instanceId }),
        ...failure,
      });
      this.opts.onRequest?.({ app: target.app, version: version.version, status: res.statusCode, latencyMs });
    };
    res.once("finish", logAccess);
    if (version.kind === "function") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end(`"${target.app}" is a function: its URL is http://${target.app}.${FUNCTION_URL_LABEL}.${this.opts.domain}/ (with the router's port)\n`);
      return;
    }
    if (version.site?.serve(req, res)) return;
    if (version.kind === "static") return; // the static site answered (404 included)
    const attempt = (tries: number): void => {
      this.opts.instances.acquire(target.app, version.version).then(
        (lease) => {
          instanceId = lease.instanceId;
          const forward = upgrade
            ? (onDone: Parameters<Proxy["forward"]>[3]) => forwardUpgrade(req, res, upgrade, lease.endpoint, onDone)
            : (onDone: Parameters<Proxy["forward"]>[3]) => this.proxy.forward(req, res, lease.endpoint, onDone);
          forward((result) => {
            if (result.kind === "done") {
              // A WebSocket's access line is written when it closes: its latency is the connection's life.
              if (res.statusCode === 101) logAccess();
              return lease.release();
            }
            if (result.kind === "failed") {
              lease.release();
              failure = this.badGateway(res, target.app, result.error);
              return;
            }
            lease.release(result.unreachable ? { unreachable: result.error } : undefined);
            // The app never saw it: send it again (an instance that refused is out of service by now,
            // so this goes to another one or waits for a new one), a bounded number of times.
            if (res.destroyed || req.socket.destroyed) return;
            if (tries < MAX_TRIES) attempt(tries + 1);
            else failure = this.badGateway(res, target.app, result.error);
          });
        },
        (err: unknown) => (failure = this.unavailable(res, target.app, err)),
      );
    };
    attempt(1);
  }

  /** A function URL: the function's serving version (its traffic split) answers through the functions layer. */
  private functionUrl(name: string, req: IncomingMessage, res: ServerResponse, started: number): void {
    const route = this.table.apps.get(name);
    const version = route && this.pick(route, req, res);
    if (!version || version.kind !== "function") {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ Message: `no function named ${name} (see: strata functions list)` }));
      return;
    }
    const bytesBefore = req.socket.bytesWritten;
    res.once("finish", () => {
      const latencyMs = performance.now() - started;
      const bytes = req.socket.bytesWritten - bytesBefore;
      this.opts.logs.append({ kind: "access", time: new Date().toISOString(), app: name, version: version.version, method: req.method ?? "GET", path: req.url ?? "/", status: res.statusCode, bytes, latencyMs: Math.round(latencyMs * 1000) / 1000 });
      this.opts.onRequest?.({ app: name, version: version.version, status: res.statusCode, latencyMs });
    });
    this.opts.functionUrls!.serve(name, version.version, req, res);
  }

  private pick(route: AppRoute, req: IncomingMessage, res: ServerResponse): VersionTarget | undefined {
    const split = route.split;
    if (!split) return undefined;
    if (split.versions.length === 1) return route.versions.get(split.versions[0]!);
    let point: number;
    if (split.splitBy === "cookie") {
      let bucket = stickyBucket(req.headers.cookie);
      if (bucket === undefined) {
        bucket = newStickyBucket();
        res.setHeader("set-cookie", `${STICKY_COOKIE}=${bucket}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax`);
      }
      point = bucket / 1000;
    } else if (split.splitBy === "ip") {
      point = ipPoint(req.socket.remoteAddress ?? "");
    } else {
      point = Math.random();
    }
    return route.versions.get(versionAt(split, point));
  }

  /** No instance could take the request (the scheduler's reason, e.g. a crash loop, goes to the log only). */
  private unavailable(res: ServerResponse, app: string, err: unknown): RouterFailure | undefined {
    if (res.headersSent) {
      res.destroy();
      return undefined;
    }
    const retryAfter = err instanceof StrataError ? Number(err.details?.retryAfterS ?? 1) : 1;
    return sendPublicError(res, app, 503, "no instance of this app could take the request (its instances may be failing to start)", err, { "retry-after": String(retryAfter) });
  }

  /** The instance got the request, or could not be reached, and did not answer it. */
  private badGateway(res: ServerResponse, app: string, err: Error): RouterFailure | undefined {
    if (res.headersSent) {
      res.destroy();
      return undefined;
    }
    return sendPublicError(res, app, 502, "the app's instance did not answer", err);
  }
}
