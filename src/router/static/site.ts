import { createReadStream, readFile } from "node:fs";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { pipeline } from "node:stream";
import type { BlobStore, StaticFile, StaticTree } from "../../artifacts/index.js";
import { expirationSeconds } from "../../config/index.js";
import { ByteCache } from "./byte-cache.js";
import { compileHandlers, matchHandler, type CompiledHandler, type Handler } from "./handlers.js";
import { EncodingNegotiator, etagMatches, normalizeUrlPath, parseRange } from "./http-parts.js";
import { buildRepresentations, contentTypeFor, type FileRepresentations, type Representation } from "./representation.js";

export interface StaticSiteOptions {
  /** app.yaml handlers; without them the whole tree is served, with index.html and 404.html. */
  handlers?: Handler[];
  /** app.yaml default_expiration ("4d 5h"); App Engine's own default is 10 minutes. */
  defaultExpiration?: string;
  /** With handlers: what a path no handler matches gets (App Engine apps with code: "forward"). */
  unmatched?: "not-found" | "forward";
  /** Shared across sites; a private one is made when absent. */
  cache?: ByteCache;
  /** Whether the request reached the platform over TLS (default: the socket is a TLS socket). */
  isSecure?: (req: IncomingMessage) => boolean;
  /** Told about failures after the response has started (a blob unreadable mid-stream). */
  onError?: (err: Error) => void;
}

/** "served": the response is handled (now or shortly). "forward": untouched; send it to the app. */
export type StaticOutcome = "served" | "forward";

const DEFAULT_MAX_AGE = 600;
const MAX_MEMO_ROUTES = 10_000;

type Secure = { mode: "always" | "never"; code: number } | undefined;
type Route =
  | { kind: "file"; status: 200 | 404; reps: FileRepresentations; secure: Secure }
  | { kind: "forward"; secure: Secure }
  | { kind: "not-found"; secure: Secure }
  | { kind: "slash-redirect"; location: string }
  | { kind: "bad-request" };

const NOT_FOUND_BODY = Buffer.from(
  "<!doctype html><html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1><p>The requested URL was not found on this site.</p></body></html>\n",
);
const NOT_FOUND_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-length": NOT_FOUND_BODY.length,
  "cache-control": "no-cache",
};
const ALLOW = "GET, HEAD";

/**
 * Serves one version's StaticTree. Work per URL (decoding, handler matching, header building) happens
 * once and is remembered, so a repeated request for a cached file is a Map lookup, a few header checks
 * and one write, with no await in between.
 */
export class StaticSite {
  private readonly files: Map<string, StaticFile>;
  private readonly handlers: CompiledHandler[] | undefined;
  private readonly routes = new Map<string, Route>();
  private readonly cache: ByteCache;
  private readonly negotiator = new EncodingNegotiator();
  private readonly defaultCacheControl: string;

  constructor(
    tree: StaticTree,
    private readonly blobs: BlobStore,
    private readonly opts: StaticSiteOptions = {},
  ) {
    // A Map, not the parsed object: a path like "constructor" must not reach Object.prototype.
    this.files = new Map(Object.entries(tree.files));
    this.handlers = opts.handlers && opts.handlers.length > 0 ? compileHandlers(opts.handlers) : undefined;
    this.cache = opts.cache ?? new ByteCache();
    this.defaultCacheControl = cacheControl(opts.defaultExpiration);
  }

  /** Loads the tree manifest from the store. */
  static async load(treeDigest: string, blobs: BlobStore, opts: StaticSiteOptions = {}): Promise<StaticSite> {
    return new StaticSite(await blobs.readJson<StaticTree>(treeDigest), blobs, opts);
  }

  handle(req: IncomingMessage, res: ServerResponse): StaticOutcome {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const rawPath = q === -1 ? url : url.slice(0, q);
    let route = this.routes.get(rawPath);
    if (route === undefined) {
      route = this.resolve(rawPath);
      if (this.routes.size >= MAX_MEMO_ROUTES) this.routes.clear();
      this.routes.set(rawPath, route);
    }
    if (route.kind !== "bad-request" && route.kind !== "slash-redirect" && route.secure !== undefined) {
      if (this.redirectForScheme(req, res, route.secure)) return "served";
    }
    if (route.kind === "forward") return "forward";
    const method = req.method;
    if (method !== "GET" && method !== "HEAD") {
      res.writeHead(405, { allow: ALLOW, "content-length": 0 });
      res.end();
      return "served";
    }
    switch (route.kind) {
      case "file":
        this.serveFile(req, res, route.reps, route.status);
        break;
      case "not-found":
        res.writeHead(404, NOT_FOUND_HEADERS);
        res.end(method === "HEAD" ? undefined : NOT_FOUND_BODY);
        break;
      case "slash-redirect":
        res.writeHead(301, { location: route.location + (q === -1 ? "" : url.slice(q)), "content-length": 0 });
        res.end();
        break;
      case "bad-request":
        res.writeHead(400, { "content-type": "text/plain; charset=utf-8", "content-length": 12 });
        res.end(method === "HEAD" ? undefined : "Bad Request\n");
        break;
    }
    return "served";
  }

  private resolve(rawPath: string): Route {
    const path = normalizeUrlPath(rawPath);
    if (path === undefined) return { kind: "bad-request" };
    return this.handlers ? this.resolveWithHandlers(path) : this.resolveWholeTree(path);
  }

  private resolveWholeTree(path: string): Route {
    const rel = path.slice(1);
    const direct = rel === "" || rel.endsWith("/") ? `${rel}index.html` : rel;
    const file = this.files.get(direct);
    if (file) return this.fileRoute(file, { cacheControl: this.defaultCacheControl }, undefined);
    if (!rel.endsWith("/") && rel !== "" && this.files.has(`${rel}/index.html`)) {
      return { kind: "slash-redirect", location: `${encodePath(path)}/` };
    }
    const page = this.files.get("404.html");
    if (page) {
      const reps = buildRepresentations(page, this.blobs, { cacheControl: "no-cache" });
      return { kind: "file", status: 404, reps, secure: undefined };
    }
    return { kind: "not-found", secure: undefined };
  }

  private resolveWithHandlers(path: string): Route {
    const match = matchHandler(this.handlers!, path);
    if (match === null) return { kind: this.opts.unmatched === "forward" ? "forward" : "not-found", secure: undefined };
    const { handler } = match;
    const secure: Secure =
      handler.secure === "always" || handler.secure === "never"
        ? { mode: handler.secure, code: handler.redirect_http_response_code ?? 302 }
        : undefined;
    if (match.forward) return { kind: "forward", secure };
    const file = match.file === undefined ? undefined : this.files.get(match.file);
    if (!file) return { kind: "not-found", secure };
    return this.fileRoute(
      file,
      {
        ...(handler.mime_type !== undefined && { mimeType: contentTypeFor(handler.mime_type) }),
        cacheControl: handler.expiration !== undefined ? cacheControl(handler.expiration) : this.defaultCacheControl,
        ...(handler.http_headers !== undefined && { extraHeaders: handler.http_headers }),
      },
      secure,
    );
  }

  private fileRoute(file: StaticFile, as: Parameters<typeof buildRepresentations>[2], secure: Secure): Route {
    return { kind: "file", status: 200, reps: buildRepresentations(file, this.blobs, as), secure };
  }

  /** Redirects between http and https as the handler's `secure` asks; true when it did. */
  private redirectForScheme(req: IncomingMessage, res: ServerResponse, secure: NonNullable<Secure>): boolean {
    const isSecure = this.opts.isSecure ? this.opts.isSecure(req) : (req.socket as TLSSocket).encrypted === true;
    if ((secure.mode === "always") === isSecure) return false;
    const scheme = secure.mode === "always" ? "https" : "http";
    res.writeHead(secure.code, { location: `${scheme}://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, "content-length": 0 });
    res.end();
    return true;
  }

  private serveFile(req: IncomingMessage, res: ServerResponse, reps: FileRepresentations, status: 200 | 404): void {
    const h = req.headers;
    const head = req.method === "HEAD";
    if (status === 404) {
      this.sendBody(res, reps.identity, 404, reps.identity.ok, head);
      return;
    }
    const range = h.range;
    const rep =
      range === undefined && (reps.br !== undefined || reps.gzip !== undefined)
        ? this.pickRepresentation(reps, h["accept-encoding"])
        : reps.identity;
    const inm = h["if-none-match"];
    if (inm !== undefined && etagMatches(inm, rep.etag)) {
      res.writeHead(304, rep.notModified);
      res.end();
      return;
    }
    if (range !== undefined && (h["if-range"] === undefined || h["if-range"] === rep.etag)) {
      const r = parseRange(range, rep.size);
      if (r === "unsatisfiable") {
        res.writeHead(416, { "content-range": `bytes */${rep.size}`, "content-length": 0 });
        res.end();
        return;
      }
      if (r !== undefined) {
        const headers = {
          ...reps.partialBase,
          "content-range": `bytes ${r.start}-${r.end}/${rep.size}`,
          "content-length": r.end - r.start + 1,
        };
        this.sendBody(res, rep, 206, headers, head, r);
        return;
      }
    }
    this.sendBody(res, rep, 200, rep.ok, head);
  }

  private pickRepresentation(reps: FileRepresentations, acceptEncoding: string | undefined): Representation {
    const enc = this.negotiator.pick(acceptEncoding, reps.br !== undefined, reps.gzip !== undefined);
    return (enc && reps[enc]) || reps.identity;
  }

  private sendBody(
    res: ServerResponse,
    rep: Representation,
    status: number,
    headers: OutgoingHttpHeaders,
    head: boolean,
    range?: { start: number; end: number },
  ): void {
    if (head) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const cached = this.cache.get(rep.path);
    if (cached !== undefined) {
      res.writeHead(status, headers);
      res.end(range ? cached.subarray(range.start, range.end + 1) : cached);
      return;
    }
    if (rep.size <= this.cache.maxEntryBytes) {
      readFile(rep.path, (err, data) => {
        if (err) {
          this.fail(res, err);
          return;
        }
        this.cache.set(rep.path, data);
        res.writeHead(status, headers);
        res.end(range ? data.subarray(range.start, range.end + 1) : data);
      });
      return;
    }
    const stream = createReadStream(rep.path, range ? { start: range.start, end: range.end } : {});
    stream.once("open", () => {
      res.writeHead(status, headers);
      pipeline(stream, res, (err) => {
        // A client that goes away mid-download is normal; anything else is worth reporting.
        if (err && (err as NodeJS.ErrnoException).code !== "ERR_STREAM_PREMATURE_CLOSE") this.opts.onError?.(err);
      });
    });
    stream.once("error", (err) => {
      if (!res.headersSent) this.fail(res, err);
    });
  }

  /** The blob could not be read before anything was sent: a 500, and the error goes to onError. */
  private fail(res: ServerResponse, err: Error): void {
    this.opts.onError?.(err);
    if (res.headersSent) {
      res.destroy(err);
      return;
    }
    res.writeHead(500, { "content-type": "text/plain; charset=utf-8", "content-length": 22 });
    res.end("Internal Server Error\n");
  }
}

function cacheControl(expiration: string | undefined): string {
  const seconds = expiration === undefined ? DEFAULT_MAX_AGE : expirationSeconds(expiration);
  return `public, max-age=${Math.floor(seconds)}`;
}

/** A decoded path made safe for a Location header again. */
function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}
