import { randomBytes } from "node:crypto";
import ivm from "isolated-vm";
import type { UrlParts } from "../prelude/host.js";
import { FetchBodies } from "./fetch-bodies.js";
import { outboundFetch, type OutboundRequest } from "./outbound-fetch.js";
import { CodecBridge } from "./codec-bridge.js";
import { htmlRewriterSource } from "./html-rewriter-source.js";
import { nodeCall } from "./node-bridge.js";
import { SubtleBridge } from "./subtle-bridge.js";

/** What a tenant's isolate may ask of the engine; everything else (files, processes, sockets) it cannot reach. */
export interface BridgeHooks {
  log(stream: "stdout" | "stderr", line: string): void;
  /** Timer `id` fires after `ms` (ms < 0 clears it). */
  timer(id: number, ms: number): void;
  /** The next bytes of request body `id` as the worker reads it, null at its end; rejects when it failed. */
  readBody(id: number): Promise<ArrayBuffer | null>;
  /** The worker cancelled request body `id`: the rest is not read. */
  cancelBody(id: number): void;
  /** KV operation `op` on the tenant's KV binding number `ns` (see kv-bindings.ts). */
  kv(ns: number, op: string, args: unknown[]): Promise<unknown>;
  /** The worker sends on (op "send", a: string | ArrayBuffer) or closes (op "close", a: code, b: reason) WebSocket connection `id`. */
  websocket(op: string, id: number, a: unknown, b: unknown): void;
  /** Cache API operation `op` on the app's cache (see cache-store.ts). */
  cache(op: string, args: unknown[]): unknown;
}

const URL_PARTS = ["protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"] as const;
const MAX_LOG_LINE = 16 * 1024;
const MAX_CONCURRENT_FETCHES = 32;

/** A URL as the prelude's URL class holds it (the engine parses, the isolate only reads). */
export function urlParts(u: URL): UrlParts {
  const out: Record<string, string> = { href: u.href, origin: u.origin };
  for (const k of URL_PARTS) out[k] = u[k];
  return out as unknown as UrlParts;
}

/**
 * Async host calls answer with an outcome instead of rejecting: a rejection from a Callback's
 * promise would surface in the engine, not in the tenant that caused it.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

function settled<A extends unknown[], T>(fn: (...args: A) => Promise<T>): (...args: A) => Promise<Outcome<T>> {
  return (...args) =>
    fn(...args).then(
      (value) => ({ ok: true as const, value }),
      (err: unknown) => ({ ok: false as const, error: err instanceof Error ? err.message : String(err) }),
    );
}

/**
 * A body read by the isolate chunk by chunk (a request body, a fetch() response body). A chunk goes in
 * transferred (copying one into the isolate costs it ~10x the CPU); the end as null, a failure as the
 * message (a string), so the answer needs no copied wrapper object.
 */
function chunkReader(read: (id: number) => Promise<ArrayBuffer | null>): (id: unknown) => Promise<unknown> {
  return async (id) => {
    try {
      const bytes = await read(Number(id));
      return bytes === null ? null : new ivm.ExternalCopy(bytes, { transferOut: true }).copyInto({ release: true, transferIn: true });
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };
}

/** Sets the engine's functions on a fresh context's global object, where the prelude takes them. */
export async function installBridge(context: ivm.Context, hooks: BridgeHooks): Promise<void> {
  const subtle = new SubtleBridge();
  const codecs = new CodecBridge();
  const g = context.global;
  // Log lines and timers need no answer: "ignored" callbacks queue to the engine without making the
  // isolate wait for its thread (a synchronous call out costs more than the whole hello request).
  await g.set("__strata_log", new ivm.Callback((stream: unknown, line: unknown) => {
    hooks.log(stream === "stderr" ? "stderr" : "stdout", String(line).slice(0, MAX_LOG_LINE));
  }, { ignored: true }));
  await g.set("__strata_random", new ivm.Callback((n: unknown) => {
    const size = Math.min(Math.max(Number(n) | 0, 0), 65536);
    const b = randomBytes(size);
    return b.buffer.slice(b.byteOffset, b.byteOffset + size);
  }));
  // Node's own code for the nodejs_compat modules bundled into a worker (node-bridge.ts): synchronous, as
  // Node's createHash or url.parse are.
  await g.set("__strata_node", new ivm.Callback((op: unknown, ...args: unknown[]) => nodeCall(op, args)));
  await g.set("__strata_url", new ivm.Callback((op: unknown, a: unknown, b: unknown, c: unknown) => {
    if (op === "parse") return urlParts(new URL(String(a), b === undefined ? undefined : String(b)));
    const u = new URL(String(a));
    const part = String(b);
    if (!(URL_PARTS as readonly string[]).includes(part)) throw new TypeError(`URL has no settable part ${part}`);
    (u as unknown as Record<string, string>)[part] = String(c);
    return urlParts(u);
  }));
  await g.set("__strata_timer", new ivm.Callback((id: unknown, ms: unknown) => hooks.timer(Number(id), Number(ms)), { ignored: true }));
  // Async host functions go in as References: the prelude awaits ref.apply(..., { result: { promise: true } }).
  // A response's head comes back at once; its body stays in the engine, read as the worker pulls it.
  let inFlight = 0;
  const responses = new FetchBodies();
  await g.set("__strata_fetch", new ivm.Reference(settled(async (req: OutboundRequest) => {
    if (inFlight >= MAX_CONCURRENT_FETCHES) throw new TypeError(`too many concurrent fetch() calls (limit ${MAX_CONCURRENT_FETCHES} per isolate)`);
    inFlight++;
    try {
      const { body, ...head } = await outboundFetch(req);
      return { ...head, bodyId: body ? responses.add(body) : null };
    } finally {
      inFlight--;
    }
  })));
  await g.set("__strata_fetch_read", new ivm.Reference(chunkReader((id) => responses.read(id))));
  await g.set("__strata_fetch_cancel", new ivm.Callback((id: unknown) => responses.cancel(Number(id)), { ignored: true }));
  await g.set("__strata_body_read", new ivm.Reference(chunkReader((id) => hooks.readBody(id))));
  await g.set("__strata_body_cancel", new ivm.Callback((id: unknown) => hooks.cancelBody(Number(id)), { ignored: true }));
  // Values cross transferred, as request body chunks do; a refusal comes back as an Outcome's error.
  await g.set("__strata_kv", new ivm.Reference(settled(async (ns: unknown, op: unknown, args: unknown) => {
    const r = await hooks.kv(Number(ns), String(op), args as unknown[]);
    if (r instanceof ArrayBuffer) return new ivm.ExternalCopy(r, { transferOut: true }).copyInto({ release: true, transferIn: true });
    if (r && typeof r === "object" && (r as { value?: unknown }).value instanceof ArrayBuffer) {
      const e = r as { value: ArrayBuffer; metadata: string | null };
      return { value: new ivm.ExternalCopy(e.value, { transferOut: true }).copyInto({ release: true, transferIn: true }), metadata: e.metadata };
    }
    return r;
  })));
  await g.set("__strata_cache", new ivm.Reference(settled(async (op: unknown, args: unknown) => {
    const r = hooks.cache(String(op), args as unknown[]);
    if (r && typeof r === "object" && (r as { body?: unknown }).body instanceof ArrayBuffer) {
      const c = r as { status: number; headers: Array<[string, string]>; body: ArrayBuffer };
      return { status: c.status, headers: c.headers, body: new ivm.ExternalCopy(c.body, { transferOut: true }).copyInto({ release: true, transferIn: true }) };
    }
    return r;
  })));
  // HTMLRewriter's lol-html build, asked for by an isolate the first time it rewrites (see html-rewriter-source.ts).
  await g.set("__strata_html_rewriter", new ivm.Reference(settled(async () => {
    const { code, wasm } = await htmlRewriterSource();
    return { code, wasm: new ivm.ExternalCopy(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength)).copyInto({ release: true }) };
  })));
  await g.set("__strata_websocket", new ivm.Callback((op: unknown, id: unknown, a: unknown, b: unknown) => {
    hooks.websocket(String(op), Number(id), a, b);
  }, { ignored: true }));
  await g.set("__strata_text", new ivm.Callback((op: unknown, ...args: unknown[]) => codecs.text(op, ...args)));
  await g.set("__strata_form_data", new ivm.Reference(settled((ct: unknown, body: unknown) => codecs.formData(ct, body))));
  await g.set("__strata_zlib", new ivm.Reference(settled((op: unknown, a: unknown, b: unknown) => codecs.zlib(op, a, b))));
  await g.set("__strata_subtle", new ivm.Reference(
    settled((method: unknown, args: unknown) => subtle.call(String(method), args as unknown[])),
  ));
}
