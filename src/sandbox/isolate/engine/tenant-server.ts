import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { rm } from "node:fs/promises";
import type { DispatchRequest, Tenant } from "./tenant.js";

const MAX_BODY_BYTES = 32 * 1024 * 1024;

/**
 * The tenant's endpoint: an HTTP server on its own unix socket, served by the engine, so the
 * router reaches an isolate tenant like any other instance.
 */
export async function serveTenant(tenant: Tenant, socketPath: string): Promise<Server> {
  await rm(socketPath, { force: true });
  const server = createServer((req, res) => {
    answer(tenant, req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
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

async function answer(tenant: Tenant, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) {
      res.writeHead(413, { "content-type": "text/plain", connection: "close" });
      res.end(`request body larger than ${MAX_BODY_BYTES} bytes\n`);
      req.destroy();
      return;
    }
    chunks.push(c);
  }
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
  const proto = String(req.headers["x-forwarded-proto"] ?? "http").split(",")[0]!.trim() === "https" ? "https" : "http";
  const host = req.headers.host ?? "localhost";
  const body = Buffer.concat(chunks);
  const dispatch: DispatchRequest = {
    method: req.method ?? "GET",
    url: `${proto}://${host}${req.url ?? "/"}`,
    headers,
    body: body.length ? body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) : null,
  };
  const out = await tenant.handle(dispatch);
  const grouped: Record<string, string | string[]> = {};
  for (const [k, v] of out.headers) {
    if (k === "content-length" || k === "transfer-encoding" || k === "connection") continue; // node frames the body
    const prev = grouped[k];
    grouped[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  res.writeHead(out.status, out.statusText || undefined, grouped);
  res.end(out.body && req.method !== "HEAD" ? Buffer.from(out.body) : undefined);
}
