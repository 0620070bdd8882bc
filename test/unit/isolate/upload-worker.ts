import { testWorkerSource } from "./test-worker.js";

/**
 * A worker that reads request bodies in the ways workers do: piped through a TransformStream back
 * out, with a reader, with `for await`, whole (text/json/arrayBuffer), cancelled, or not at all.
 * `/hold` reads one chunk and waits for a `/release` request before reading the rest (each wait gives
 * up after 10 s), so a test can see how much of an upload the engine took meanwhile. Module state is
 * read with `/state`.
 */
export const UPLOAD_WORKER = testWorkerSource({
  state: "{ firstChunk: 0, total: 0, error: null }",
  routes: String.raw`      case "/echo":
        return new Response(request.body.pipeThrough(new TransformStream()));
      case "/reader": {
        // The reply's first line goes out as soon as the body's first chunk is in.
        const { readable, writable } = new TransformStream();
        const writer = writable.getWriter();
        (async () => {
          const reader = request.body.getReader();
          let first = await reader.read();
          await writer.write(enc.encode("first:" + new TextDecoder().decode(first.value) + "\n"));
          let total = first.value.byteLength;
          for (;;) {
            const r = await reader.read();
            if (r.done) break;
            total += r.value.byteLength;
          }
          await writer.write(enc.encode("total:" + total + "\n"));
          await writer.close();
        })().catch((e) => writer.abort(e));
        return new Response(readable);
      }
      case "/count": {
        let total = 0;
        try {
          for await (const chunk of request.body) total += chunk.byteLength;
        } catch (e) {
          state.error = String(e && e.message || e);
          throw e;
        }
        return new Response(String(total));
      }
      case "/hold": {
        const reader = request.body.getReader();
        state.firstChunk = (await reader.read()).value.byteLength;
        await released();
        let total = state.firstChunk;
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          total += r.value.byteLength;
        }
        state.total = total;
        return new Response(String(total));
      }
      case "/text":
        return new Response("text:" + (await request.text()));
      case "/json":
        return Response.json({ parsed: await request.json() });
      case "/bytes":
        return new Response(String((await request.arrayBuffer()).byteLength));
      case "/ignore":
        return new Response("ignored");
      case "/cancel":
        await request.body.cancel("not wanted");
        return new Response("cancelled");
      case "/spin": {
        await request.body.getReader().read();
        for (;;) state.total++;
      }`,
});

