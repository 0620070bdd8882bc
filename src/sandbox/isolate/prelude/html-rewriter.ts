import { host } from "./host.js";
import { Response } from "./request-response.js";
import { TransformStream } from "./streams.js";

/**
 * Workers' HTMLRewriter: on(selector, handlers) and onDocument(handlers), then transform(response)
 * streams the body through lol-html as the client reads it. lol-html (WebAssembly, from the
 * html-rewriter-wasm package) is loaded into an isolate the first time it rewrites, not by every isolate.
 */
interface LolRewriter {
  on(selector: string, handlers: object): void;
  onDocument(handlers: object): void;
  write(chunk: Uint8Array): Promise<void>;
  end(): Promise<void>;
  free(): void;
}
interface Lol { HTMLRewriter: new (sink: (chunk: Uint8Array) => void, options?: object) => LolRewriter }

let lol: Promise<Lol> | null = null;

function loadLol(): Promise<Lol> {
  lol ??= host.htmlRewriter().then(({ code, wasm }) => {
    // Indirect eval: the glue runs at global scope, as the engine's own bundle of it expects.
    const factory = (0, eval)(code) as (wasm: Uint8Array) => Lol;
    return factory(new Uint8Array(wasm));
  });
  lol.catch(() => (lol = null));
  return lol;
}

type Registration = { selector: string; handlers: object } | { document: object };

export class HTMLRewriter {
  readonly #registrations: Registration[] = [];

  on(selector: unknown, handlers: object): this {
    this.#registrations.push({ selector: String(selector), handlers });
    return this;
  }

  onDocument(handlers: object): this {
    this.#registrations.push({ document: handlers });
    return this;
  }

  transform(response: unknown): Response {
    if (!(response instanceof Response)) throw new TypeError("HTMLRewriter.transform() requires a Response.");
    const registrations = [...this.#registrations];
    const body = response.body;
    if (body === null) return new Response(null, response);
    let rewriter: LolRewriter | null = null;
    const stream = new TransformStream<Uint8Array, Uint8Array>({
      async start(controller) {
        const lib = await loadLol();
        rewriter = new lib.HTMLRewriter((chunk) => {
          if (chunk.length) controller.enqueue(chunk.slice());
        }, { enableEsiTags: false });
        for (const r of registrations) {
          if ("document" in r) rewriter.onDocument(r.document);
          else rewriter.on(r.selector, r.handlers);
        }
      },
      async transform(chunk) {
        await rewriter!.write(chunk);
      },
      async flush() {
        try {
          await rewriter!.end();
        } finally {
          rewriter!.free();
        }
      },
    });
    const out = new Response(stream.readable, response);
    // The rewritten body's length is not the original's.
    out.headers.delete("content-length");
    body.pipeTo(stream.writable).catch(() => {
      // The failure reaches the reader of the rewritten body, which errors with it.
    });
    return out;
  }
}
