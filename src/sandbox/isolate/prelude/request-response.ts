import { Body, extractBody, type BodyInit } from "./body.js";
import { Headers, type HeadersInitLike } from "./headers.js";
import { URL } from "./url.js";
import { AbortSignal } from "./events.js";
import { WebSocket } from "./websocket.js";

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

export interface RequestInit {
  method?: string;
  headers?: HeadersInitLike;
  body?: BodyInit;
  redirect?: "follow" | "manual" | "error";
  signal?: AbortSignal | null;
  cf?: Record<string, unknown>;
}

export class Request extends Body {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly redirect: "follow" | "manual" | "error";
  readonly signal: AbortSignal;
  /** Workers' request metadata (colo, country, TLS, ...): Strata knows none of it, so it is empty. */
  readonly cf: Record<string, unknown> | undefined;

  constructor(input: Request | string | URL, init: RequestInit = {}) {
    const from = input instanceof Request ? input : null;
    const bodyInit = init.body !== undefined ? init.body : null;
    const method = String(init.method ?? from?.method ?? "GET").toUpperCase();
    if ((method === "GET" || method === "HEAD") && bodyInit != null) {
      throw new TypeError("Request with GET/HEAD method cannot have a body");
    }
    const source = init.body !== undefined ? extractBody(bodyInit) : from ? { ...from._cloneSource(), type: null } : extractBody(null);
    super(source);
    this.method = method;
    this.url = from ? from.url : new URL(String(input)).href;
    this.headers = new Headers(init.headers ?? from?.headers);
    if (source.type && !this.headers.has("content-type")) this.headers.set("content-type", source.type);
    this.redirect = init.redirect ?? from?.redirect ?? "follow";
    this.signal = init.signal ?? from?.signal ?? new AbortSignal();
    this.cf = init.cf ?? from?.cf;
  }

  /** A copy sharing nothing: the body is teed. */
  clone(): Request {
    return new Request(this);
  }
}

export interface ResponseInit {
  status?: number;
  statusText?: string;
  headers?: HeadersInitLike;
  /** Workers: the client end of a WebSocketPair, with status 101. */
  webSocket?: WebSocket | null;
}

export class Response extends Body {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly type: "basic" | "default" | "error" = "default";
  /** @internal */ _url = "";
  /** @internal */ _redirected = false;

  /** Workers: the WebSocket end this 101 response hands to the client. */
  readonly webSocket: WebSocket | null;

  constructor(body: BodyInit = null, init: ResponseInit = {}) {
    const status = init.status ?? 200;
    const webSocket = init.webSocket ?? null;
    if (webSocket !== null && !(webSocket instanceof WebSocket)) throw new TypeError("Response webSocket must be a WebSocket");
    if (status === 101 && webSocket === null) throw new RangeError("Responses may only be constructed with status codes in the range 200 to 599, inclusive.");
    if (!Number.isInteger(status) || (status !== 101 && (status < 200 || status > 599))) {
      throw new RangeError(`Response status ${status} is outside 200-599`);
    }
    if (body != null && NULL_BODY_STATUS.has(status)) throw new TypeError(`Response with status ${status} cannot have a body`);
    const source = extractBody(body);
    super(source);
    this.status = status;
    this.webSocket = webSocket;
    this.statusText = String(init.statusText ?? "");
    this.headers = new Headers(init.headers);
    if (source.type && !this.headers.has("content-type")) this.headers.set("content-type", source.type);
  }

  get ok(): boolean { return this.status >= 200 && this.status < 300; }
  get url(): string { return this._url; }
  get redirected(): boolean { return this._redirected; }

  clone(): Response {
    const src = this._cloneSource();
    const copy = new Response(null, { status: this.status, statusText: this.statusText, headers: this.headers });
    copy._setSource(src);
    copy._url = this._url;
    copy._redirected = this._redirected;
    return copy;
  }

  static json(data: unknown, init: ResponseInit = {}): Response {
    const headers = new Headers(init.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(JSON.stringify(data), { ...init, headers });
  }
  static redirect(url: string | URL, status = 302): Response {
    if (!REDIRECT_STATUS.has(status)) throw new RangeError(`invalid redirect status ${status}`);
    return new Response(null, { status, headers: { location: new URL(String(url)).href } });
  }
  static error(): Response {
    const r = new Response(null);
    // A network error: status 0, which the constructor refuses to anyone else.
    Object.assign(r as { status: number; type: string }, { status: 0, type: "error" });
    return r;
  }
}
