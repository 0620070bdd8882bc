/**
 * The engine's functions, set on the global object before the prelude runs. The prelude takes
 * them and deletes the globals, so tenant code can reach the host only through the Web APIs.
 */
export interface UrlParts {
  href: string; origin: string; protocol: string; username: string; password: string;
  host: string; hostname: string; port: string; pathname: string; search: string; hash: string;
}

/** The same shapes the engine's outbound fetch takes and gives (a type-only import: nothing crosses at run time). */
export type { OutboundRequest as HostFetchRequest, FetchResponseHead as HostFetchResponse } from "../engine/outbound-fetch.js";
import type { OutboundRequest as HostFetchRequest, FetchResponseHead as HostFetchResponse } from "../engine/outbound-fetch.js";
import type { NodeAnswer } from "../engine/node-bridge.js";

/** How an async engine call ends: it never rejects across the isolate boundary. */
type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

/** An isolated-vm Reference to an async engine function, as seen from inside the isolate. */
interface HostReference {
  apply(receiver: undefined, args: unknown[], options: object): Promise<unknown>;
}

async function callHost<T>(ref: HostReference, args: unknown[]): Promise<T> {
  const o = (await ref.apply(undefined, args, { arguments: { copy: true }, result: { promise: true, copy: true } })) as Outcome<T>;
  if (o.ok) return o.value;
  throw new TypeError(o.error);
}

const g = globalThis as unknown as Record<string, unknown>;
function take<T>(name: string): T {
  const value = g[name] as T;
  delete g[name];
  return value;
}

const hostFetch = take<HostReference>("__strata_fetch");
const hostSubtle = take<HostReference>("__strata_subtle");
const hostBodyRead = take<HostReference>("__strata_body_read");
const hostFetchRead = take<HostReference>("__strata_fetch_read");
const hostFormData = take<HostReference>("__strata_form_data");
const hostZlib = take<HostReference>("__strata_zlib");
const hostKv = take<HostReference>("__strata_kv");
const hostCache = take<HostReference>("__strata_cache");
const hostHtmlRewriter = take<HostReference>("__strata_html_rewriter");

/** A form field as the engine parses it: a string, or a file's parts. */
export type HostFormValue = string | { name: string; type: string; bytes: ArrayBuffer };

export const host = {
  log: take<(stream: "stdout" | "stderr", line: string) => void>("__strata_log"),
  randomBytes: take<(n: number) => ArrayBuffer>("__strata_random"),
  /** Node's own code for the nodejs_compat modules (engine/node-bridge.ts): `{ value }` or `{ error }`. */
  node: take<(op: string, ...args: unknown[]) => NodeAnswer>("__strata_node"),
  /** parse(input, base) or set(href, part, value); throws on an invalid URL. */
  url: take<(op: "parse" | "set", a: string, b?: string, c?: string) => UrlParts>("__strata_url"),
  /** Schedules (ms >= 0) or clears (ms < 0) timer `id`; the engine calls __strataFireTimer(id). */
  timer: take<(id: number, ms: number) => void>("__strata_timer"),
  fetch: (req: HostFetchRequest): Promise<HostFetchResponse> => callHost(hostFetch, [req]),
  subtle: (method: string, args: unknown[]): Promise<unknown> => callHost(hostSubtle, [method, args]),
  /** The next bytes of request body `id` (null at its end), read from the client as they are asked for. */
  readBody: async (id: number): Promise<ArrayBuffer | null> => {
    const r = (await hostBodyRead.apply(undefined, [id], { result: { promise: true } })) as ArrayBuffer | null | string;
    if (typeof r === "string") throw new TypeError(r);
    return r;
  },
  /**
   * The engine's TextDecoder, for encodings other than UTF-8: ("encoding", label) gives the encoding's
   * name or null; ("decode", id, encoding, fatal, ignoreBOM, bytes, stream) the text or { error };
   * ("release", id) forgets streaming decoder `id`.
   */
  text: take<(op: "encoding" | "decode" | "release", ...args: unknown[]) => unknown>("__strata_text"),
  /** A multipart/form-data body parsed by the engine's (undici's) parser, in order. */
  formData: (contentType: string, body: ArrayBuffer): Promise<Array<[string, HostFormValue]>> =>
    callHost(hostFormData, [contentType, body]),
  /**
   * (De)compression by the engine's zlib: ("open", format, compress) gives a stream id; ("write", id,
   * bytes) and ("end", id) give the output ready so far (the last of it at "end"), null when there is none.
   */
  zlib: (op: "open" | "write" | "end", a: unknown, b?: unknown): Promise<unknown> => callHost(hostZlib, [op, a, b]),
  /**
   * KV operation `op` on the tenant's KV binding `ns` (engine/kv-store.ts kvCall). The store's refusals
   * ("KV PUT failed: 414 ...") are thrown as Error, as workerd throws them.
   */
  kv: async (ns: number, op: "get" | "put" | "delete" | "list", args: unknown[]): Promise<unknown> => {
    const o = (await hostKv.apply(undefined, [ns, op, args], { arguments: { copy: true }, result: { promise: true, copy: true } })) as Outcome<unknown>;
    if (o.ok) return o.value;
    throw new Error(o.error);
  },
  /** Cache API operation on the app's cache (engine/cache-store.ts cacheCall). */
  cache: (op: "match" | "put" | "delete", args: unknown[]): Promise<unknown> => callHost(hostCache, [op, args]),
  /** HTMLRewriter's lol-html glue (an expression: (wasmBytes) => exports) and its WebAssembly. */
  htmlRewriter: (): Promise<{ code: string; wasm: ArrayBuffer }> => callHost(hostHtmlRewriter, []),
  /** Sends a message on, or closes, the engine's WebSocket connection `id` (no answer awaited). */
  websocket: take<(op: "send" | "close", id: number, a: unknown, b?: unknown) => void>("__strata_websocket"),
  /** The worker will not read request body `id` further. */
  cancelBody: take<(id: number) => void>("__strata_body_cancel"),
  /** The next bytes of fetch() response body `id` (null at its end), read from the server as they are asked for. */
  readFetchBody: async (id: number): Promise<ArrayBuffer | null> => {
    const r = (await hostFetchRead.apply(undefined, [id], { result: { promise: true } })) as ArrayBuffer | null | string;
    if (typeof r === "string") throw new TypeError(r);
    return r;
  },
  /** The worker will not read fetch() response body `id` further: its connection is closed. */
  cancelFetchBody: take<(id: number) => void>("__strata_fetch_cancel"),
};
