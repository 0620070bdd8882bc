/**
 * The Strata isolate prelude: the Web APIs a Workers-style module expects, evaluated into every
 * bare V8 context before the tenant's code. Bundled by the engine (esbuild, IIFE) at start-up.
 */
import { Blob, File } from "./blob.js";
import { Cache, CacheStorage } from "./cache.js";
import { CompressionStream, DecompressionStream, TextDecoderStream, TextEncoderStream } from "./codec-streams.js";
import { console } from "./console.js";
import { crypto, CryptoKey, SubtleCrypto } from "./crypto.js";
import { abandonWaits, cancel, dispatch, idle, install, read, warmUp } from "./dispatch.js";
import { atob, btoa, DOMException, TextDecoder, TextEncoder } from "./encoding.js";
import { AbortController, AbortSignal, Event, EventTarget } from "./events.js";
import { fetch } from "./fetch.js";
import { FormData } from "./form-data.js";
import { Headers } from "./headers.js";
import { host } from "./host.js";
import { HTMLRewriter } from "./html-rewriter.js";
import { Request, Response } from "./request-response.js";
import {
  ByteLengthQueuingStrategy, CountQueuingStrategy, ReadableStream, ReadableStreamBYOBReader, ReadableStreamDefaultReader,
  TransformStream, WritableStream, WritableStreamDefaultWriter,
} from "./streams.js";
import { structuredClone } from "./structured-clone.js";
import { clearInterval, clearTimeout, fireTimer, queueMicrotask, setInterval, setTimeout } from "./timers.js";
import { URL, URLSearchParams } from "./url.js";
import { CloseEvent, MessageEvent, WebSocket, WebSocketPair, websocketEvent } from "./websocket.js";

const timeOrigin = Date.now();
const globals: Record<string, unknown> = {
  AbortController, AbortSignal, Blob, ByteLengthQueuingStrategy, Cache, CacheStorage, CompressionStream, CountQueuingStrategy, CryptoKey,
  DecompressionStream, DOMException, Event, EventTarget, File, FormData, Headers, HTMLRewriter, ReadableStream, ReadableStreamBYOBReader,
  ReadableStreamDefaultReader, Request, Response, SubtleCrypto, TextDecoder, TextDecoderStream, TextEncoder,
  TextEncoderStream, TransformStream, URL, URLSearchParams, WritableStream, WritableStreamDefaultWriter,
  atob, btoa, clearInterval, clearTimeout, console, crypto, fetch, queueMicrotask, setInterval, setTimeout,
  structuredClone, CloseEvent, MessageEvent, WebSocket, WebSocketPair,
  caches: new CacheStorage(),
  // Workers' own: libraries test for it to pick their Workers code paths.
  navigator: { userAgent: "Cloudflare-Workers" },
  scheduler: { wait: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)) },
  performance: { timeOrigin, now: () => Date.now() - timeOrigin },
  self: globalThis,
};
for (const [name, value] of Object.entries(globals)) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}

// What the nodejs_compat modules bundled with a worker (build/isolate/node-compat/) need from the engine:
// keyed by a symbol, so it is no global name (and holds nothing a worker could not compute itself).
Object.defineProperty(globalThis, Symbol.for("strata.node-compat"), { value: Object.freeze({ call: host.node }) });

// Taken (by reference) and then deleted from the global object by the engine.
Object.assign(globalThis, {
  __strataInstall: install,
  __strataDispatch: dispatch,
  __strataIdle: idle,
  __strataAbandonWaits: abandonWaits,
  __strataWebSocketEvent: websocketEvent,
  __strataFireTimer: fireTimer,
  __strataRead: read,
  __strataCancel: cancel,
  __strataWarmUp: warmUp,
});
