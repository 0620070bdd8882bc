import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * A test worker's module source. Beside its own routes it has module `state` (read with GET /state),
 * `enc` (a TextEncoder), and `await released()`, which waits for a GET /release (10 s at most, so that a
 * test whose release never comes ends); `routes` are the cases of a switch on the request's path, and
 * `after` is code after the handler.
 */
export function testWorkerSource(parts: { state: string; routes: string; after?: string }): string {
  return String.raw`
const enc = new TextEncoder();
const state = ${parts.state};
let release = null;
const released = () => new Promise((resolve) => {
  release = resolve;
  setTimeout(() => resolve("timeout"), 10000);
});

export default {
  async fetch(request) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/release":
        release?.("released");
        return new Response("ok");
      case "/state":
        return Response.json(state);
${parts.routes}
      default:
        return new Response("not found", { status: 404 });
    }
  },
};
${parts.after ?? ""}`;
}

/** Writes a worker's source into `dir` (a fresh app folder) as its entry, index.js. */
export async function writeWorker(dir: string, source: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "index.js"), source);
}
