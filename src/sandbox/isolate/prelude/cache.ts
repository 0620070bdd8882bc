import { host } from "./host.js";
import { Request, Response } from "./request-response.js";

/**
 * The Workers Cache API: `caches.default` and `caches.open(name)`, each a Cache with put, match and
 * delete as Cloudflare documents them. The checks that workerd makes in the isolate (GET only, no 206,
 * no Vary: *) are made here; what is kept and for how long is the engine's (engine/cache-store.ts).
 */
interface Cached { status: number; headers: Array<[string, string]>; body: ArrayBuffer | null }

function toRequest(request: unknown): Request {
  return request instanceof Request ? request : new Request(String(request));
}

export class Cache {
  readonly #name: string;
  /** @internal made by CacheStorage. */
  constructor(name: string) {
    this.#name = name;
  }

  async put(request: unknown, response: unknown): Promise<void> {
    const req = toRequest(request);
    if (!(response instanceof Response)) throw new TypeError("Cache.put() requires a Response.");
    if (req.method !== "GET") throw new TypeError("Cannot cache response to non-GET request.");
    if (response.status === 206) throw new TypeError("Cannot cache response to a range request (206 Partial Content).");
    if ((response.headers.get("vary") ?? "").split(",").some((v) => v.trim() === "*")) {
      throw new TypeError("Cannot cache response with 'Vary: *' header.");
    }
    const body = await response.arrayBuffer();
    await host.cache("put", [this.#name, req.url, [...req.headers], response.status, [...response.headers], body]);
  }

  async match(request: unknown, options: { ignoreMethod?: boolean } = {}): Promise<Response | undefined> {
    const req = toRequest(request);
    if (req.method !== "GET" && !options.ignoreMethod) return undefined;
    const r = (await host.cache("match", [this.#name, req.url, [...req.headers]])) as Cached | null;
    if (!r) return undefined;
    return new Response(r.body, { status: r.status, headers: r.headers });
  }

  async delete(request: unknown, options: { ignoreMethod?: boolean } = {}): Promise<boolean> {
    const req = toRequest(request);
    if (req.method !== "GET" && !options.ignoreMethod) return false;
    return (await host.cache("delete", [this.#name, req.url, []])) as boolean;
  }

  get [Symbol.toStringTag](): string { return "Cache"; }
}

export class CacheStorage {
  readonly default = new Cache("");
  async open(name: unknown): Promise<Cache> {
    // The default cache is not one of the named ones: "" cannot collide with a name given here.
    return new Cache(`:${String(name)}`);
  }
  get [Symbol.toStringTag](): string { return "CacheStorage"; }
}
