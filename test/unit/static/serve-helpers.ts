import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { TestContext } from "node:test";
import { BlobStore } from "../../../src/artifacts/blob-store.js";
import { buildStaticTree } from "../../../src/build/static/build-tree.js";
import { StaticSite, type StaticSiteOptions } from "../../../src/router/static/site.js";

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Served {
  port: number;
  blobs: BlobStore;
  get(path: string, headers?: Record<string, string>, method?: string): Promise<Reply>;
}

/** Builds a tree from `files`, serves it on 127.0.0.1 with a StaticSite, and tears it all down after. */
export async function serveSite(t: TestContext, files: Record<string, string | Buffer>, opts: StaticSiteOptions = {}): Promise<Served> {
  const dir = await mkdtemp(join(tmpdir(), "strata-site-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [path, body] of Object.entries(files)) {
    await mkdir(dirname(join(dir, "src", path)), { recursive: true });
    await writeFile(join(dir, "src", path), body);
  }
  await mkdir(join(dir, "src"), { recursive: true });
  const blobs = new BlobStore(join(dir, "store"));
  const { treeDigest } = await buildStaticTree(join(dir, "src"), blobs);
  const site = await StaticSite.load(treeDigest, blobs, opts);
  const server: Server = createServer((req, res) => {
    if (site.handle(req, res) === "forward") {
      res.writeHead(299, { "content-type": "text/plain" });
      res.end("forwarded to the app");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const get = (path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, method, headers: { connection: "close", ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
  return { port, blobs, get };
}
