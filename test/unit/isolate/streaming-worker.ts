import { testWorkerSource } from "./test-worker.js";

/**
 * A worker whose responses stream. A stream's second part waits for a `/release` request, so a test
 * proves a chunk reached the client before the next one was produced by releasing only once it has
 * the first (a buffered response would never show the first part alone; each wait gives up after
 * 10 s so that such a failure ends). Module state (counters, cancel reasons) is read with `/state`.
 */
export const STREAMING_WORKER = testWorkerSource({
  state: "{ produced: 0, cancelled: null }",
  routes: String.raw`      case "/echo":
        return new Response(request.body, { headers: { "content-length": "999" } });
      case "/readable":
        return new Response(new ReadableStream({
          async start(c) {
            c.enqueue(enc.encode("first|"));
            c.enqueue(enc.encode("second-" + (await released())));
            c.close();
          },
        }), { headers: { "content-type": "text/plain", "x-streamed": "yes" } });
      case "/transform": {
        const { readable, writable } = new TransformStream();
        const writer = writable.getWriter();
        (async () => {
          await writer.write(enc.encode("first|"));
          await writer.write(enc.encode("second-" + (await released())));
          await writer.close();
        })();
        return new Response(readable);
      }
      case "/piped": {
        const upper = new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()); } });
        const source = new ReadableStream({
          async start(c) {
            c.enqueue("first|");
            c.enqueue("second-" + (await released()));
            c.close();
          },
        });
        return new Response(source.pipeThrough(upper).pipeThrough(new TextEncoderStreamLike()));
      }
      case "/many": {
        // Pull-based: a chunk is made only when the stream is asked for one.
        const n = Number(url.searchParams.get("n"));
        const size = Number(url.searchParams.get("size"));
        state.produced = 0;
        return new Response(new ReadableStream({
          pull(c) {
            if (state.produced === n) return c.close();
            state.produced++;
            c.enqueue(new Uint8Array(size).fill(97));
          },
        }));
      }
      case "/fail":
        return new Response(new ReadableStream({
          async start(c) {
            c.enqueue(enc.encode("partial|"));
            await released();
            c.error(new RangeError("kaboom"));
          },
        }));
      case "/not-bytes":
        return new Response(new ReadableStream({ start(c) { c.enqueue(enc.encode("ok|")); c.enqueue(42); c.close(); } }));
      case "/endless":
        state.cancelled = null;
        return new Response(new ReadableStream({
          start(c) { c.enqueue(enc.encode("tick|")); },
          cancel(reason) { state.cancelled = String(reason && reason.message || reason); },
        }));
      case "/spin":
        return new Response(new ReadableStream({
          async start(c) {
            c.enqueue(enc.encode("before-spin|"));
            await released();
            for (;;) state.produced++;
          },
        }));`,
  after: String.raw`
/** Strings to bytes, as a TransformStream (TextEncoderStream is not in the prelude). */
class TextEncoderStreamLike extends TransformStream {
  constructor() { super({ transform(chunk, c) { c.enqueue(enc.encode(chunk)); } }); }
}`,
});

