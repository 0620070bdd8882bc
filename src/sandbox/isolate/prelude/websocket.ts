import { toBytes } from "./encoding.js";
import { Event, EventTarget } from "./events.js";
import { host } from "./host.js";

/**
 * Workers' WebSockets: `new WebSocketPair()` gives two connected ends; the worker keeps one (`accept()`,
 * `send()`, `close()`, message/close events) and answers the upgrade with the other,
 * `new Response(null, { status: 101, webSocket: client })`. The engine then completes the handshake with
 * the real client and joins the returned end to it (engine/tenant-server.ts): what the worker sends goes
 * out, what the client sends arrives as message events. What the worker sends before the client is
 * joined (in fetch(), before it returns the 101) waits on the client end and goes out at the "open".
 */
export class MessageEvent extends Event {
  readonly data: unknown;
  constructor(type: string, init: { data?: unknown } = {}) {
    super(type);
    this.data = init.data;
  }
}

export class CloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? "";
    this.wasClean = init.wasClean ?? false;
  }
}

type Outgoing = string | ArrayBuffer;

export class WebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readyState = WebSocket.OPEN;
  /** @internal the other end of the pair */
  _peer: WebSocket | null = null;
  /** @internal set when this end was handed to the engine: what the peer sends goes out as connection `_remote`. */
  _remote: number | null = null;
  /** @internal the engine joined connection `_remote` to a client: sends go out at once. */
  _joined = false;
  #accepted = false;
  #queued: Event[] = [];

  accept(): void {
    if (this.#accepted) return;
    this.#accepted = true;
    for (const e of this.#queued.splice(0)) this.dispatchEvent(e);
  }

  /** @internal the events queued on an end never accept()ed (the client end, until it is joined). */
  _takeQueued(): Event[] {
    return this.#queued.splice(0);
  }

  /** @internal an event for this end: dispatched once accept()ed, queued until then. */
  _deliver(e: Event): void {
    if (e.type === "close") this.readyState = WebSocket.CLOSED;
    if (this.#accepted) this.dispatchEvent(e);
    else this.#queued.push(e);
  }

  send(data: unknown): void {
    if (!this.#accepted) throw new TypeError("You must call accept() on this WebSocket before sending messages.");
    if (this.readyState !== WebSocket.OPEN) throw new TypeError("Can't call WebSocket send() after close().");
    const out: Outgoing = typeof data === "string" ? data : data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? copy(toBytes(data)) : String(data);
    const peer = this._peer!;
    if (peer._joined) host.websocket("send", peer._remote!, out);
    else peer._deliver(new MessageEvent("message", { data: out }));
  }

  close(code = 1000, reason = ""): void {
    if (code !== 1000 && (code < 3000 || code > 4999)) throw new TypeError(`Invalid WebSocket close code: ${code}.`);
    if (this.readyState >= WebSocket.CLOSING) return;
    this.readyState = WebSocket.CLOSING;
    const peer = this._peer!;
    if (peer._joined) host.websocket("close", peer._remote!, code, String(reason));
    else peer._deliver(new CloseEvent("close", { code, reason: String(reason), wasClean: true }));
  }
}

function copy(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

export class WebSocketPair {
  0: WebSocket;
  1: WebSocket;
  constructor() {
    const client = new WebSocket();
    const server = new WebSocket();
    client._peer = server;
    server._peer = client;
    this[0] = client;
    this[1] = server;
  }
}

/** The engine's connections: the worker's end of each, by connection id. */
const connections = new Map<number, WebSocket>();
let nextConnection = 1;

/** Hands `client` (returned in a 101 response) to the engine; returns its connection id. */
export function attach(client: WebSocket): number {
  const id = nextConnection++;
  client._remote = id;
  connections.set(id, client._peer!);
  return id;
}

/**
 * The engine's report on connection `id`: "open" once the handshake with the real client is done (what
 * the worker sent before goes out now), then the client's messages, or its close (also when the handshake
 * failed).
 */
export function websocketEvent(id: number, type: "open" | "message" | "close", data: unknown, code?: number, reason?: string): void {
  const server = connections.get(id);
  if (!server) return;
  if (type === "open") {
    const client = server._peer!;
    client._joined = true;
    for (const e of client._takeQueued()) {
      if (e instanceof MessageEvent) host.websocket("send", id, e.data as Outgoing);
      else if (e instanceof CloseEvent) host.websocket("close", id, e.code, e.reason);
    }
  } else if (type === "message") server._deliver(new MessageEvent("message", { data }));
  else {
    connections.delete(id);
    server._deliver(new CloseEvent("close", { code: code ?? 1005, reason: reason ?? "", wasClean: true }));
  }
}
