import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { StrataError } from "../errors.js";
import { closeServer, listenOn } from "../system/http-server.js";
import { bearerMatches } from "./auth.js";
import { sendError, sendJson } from "./http.js";
import { openApiDocument } from "./openapi.js";
import type { Route } from "./routes.js";

interface CompiledRoute {
  route: Route;
  re: RegExp;
  names: string[];
}

/** The control-plane HTTP API: /v1/... JSON, bearer-token auth, the error shape of docs/ARCHITECTURE.md. */
export class ApiServer {
  private readonly routes: CompiledRoute[];
  private readonly openapi: string;
  private server: http.Server | undefined;

  constructor(
    routes: readonly Route[],
    private readonly token: string,
  ) {
    this.routes = routes.map((route) => {
      const names: string[] = [];
      const re = new RegExp("^" + route.path.replace(/\{(\w+)\}/g, (_m, n: string) => (names.push(n), "([^/]+)")) + "$");
      return { route, re, names };
    });
    this.openapi = JSON.stringify(openApiDocument(routes));
  }

  async listen(port: number, host = "127.0.0.1"): Promise<number> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    this.server = server;
    return listenOn(server, port, host);
  }

  async close(): Promise<void> {
    await closeServer(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? "/").split("?")[0]!;
      if (path === "/v1/openapi.json" && req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(this.openapi);
        return;
      }
      if (path === "/v1/health" && req.method === "GET") return sendJson(res, 200, { ok: true });
      let pathMatched = false;
      for (const { route, re, names } of this.routes) {
        const m = re.exec(path);
        if (!m) continue;
        pathMatched = true;
        if (route.method !== req.method) continue;
        if (route.auth && !bearerMatches(req.headers.authorization, this.token)) {
          throw new StrataError("UNAUTHORIZED", "missing or wrong API token: send `Authorization: Bearer <token>` (the token is in $STRATA_HOME/token)");
        }
        const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
        await route.handle(req, res, params);
        return;
      }
      throw new StrataError(
        "NOT_FOUND",
        pathMatched ? `${req.method} is not allowed on ${path}` : `no API route ${req.method} ${path} (see /v1/openapi.json)`,
      );
    } catch (err) {
      sendError(res, err);
    }
  }
}
