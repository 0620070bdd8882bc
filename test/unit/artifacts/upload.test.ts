import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test, type TestContext } from "node:test";
import { receiveUpload } from "../../../src/artifacts/upload.js";
import { StrataError } from "../../../src/errors.js";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "strata-upload-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("receiveUpload streams to a file with its digest and size", async (t) => {
  const dir = await tempDir(t);
  const chunks = [Buffer.from("part one,"), Buffer.from("part two")];
  const got = await receiveUpload(Readable.from(chunks), join(dir, "uploads"), 1024);
  const all = Buffer.concat(chunks);
  assert.equal(got.size, all.length);
  assert.equal(got.digest, `sha256:${createHash("sha256").update(all).digest("hex")}`);
  assert.deepEqual(await readFile(got.path), all);
});

test("receiveUpload aborts past the limit with ARCHIVE_TOO_LARGE, deletes the partial file, stops reading", async (t) => {
  const dir = await tempDir(t);
  let produced = 0;
  // An endless source: the limit, not the end of input, must stop it.
  const endless = new Readable({
    read() {
      produced += 64 * 1024;
      this.push(Buffer.alloc(64 * 1024));
    },
  });
  await assert.rejects(receiveUpload(endless, dir, 1024 * 1024), (err: StrataError) => {
    assert.equal(err.code, "ARCHIVE_TOO_LARGE");
    assert.match(err.message, /limit is 1 MB; exclude files with \.stratignore/);
    return true;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(produced < 4 * 1024 * 1024, `reading stopped soon after the limit (${produced} bytes read)`);
  assert.deepEqual(await readdir(dir), []);
  endless.destroy();
});

test("an upload that fails midway leaves no file", async (t) => {
  const dir = await tempDir(t);
  const broken = new Readable({
    read() {
      this.push(Buffer.alloc(1000));
      this.destroy(new Error("connection reset"));
    },
  });
  await assert.rejects(receiveUpload(broken, dir, 1e6), (err: StrataError) => err.code === "INVALID_ARCHIVE");
  assert.deepEqual(await readdir(dir), []);
});

test("over HTTP, the server can still answer 413 with the message after the limit", async (t) => {
  const dir = await tempDir(t);
  const server = createServer((req, res) => {
    receiveUpload(req, dir, 1024 * 1024).then(
      (got) => {
        res.writeHead(200);
        res.end(got.digest);
      },
      (err: StrataError) => {
        res.writeHead(413, { connection: "close", "content-type": "text/plain" });
        res.end(err.message);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    let answered = false;
    const req = request({ host: "127.0.0.1", port, method: "POST", path: "/upload" }, (res) => {
      answered = true;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    // The server closes after answering, so this side may see EPIPE/ECONNRESET while still sending.
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE" && err.code !== "ECONNRESET") reject(err);
    });
    req.on("close", () => setImmediate(() => answered || reject(new Error("the connection closed without an answer"))));
    let sent = 0;
    const pump = (): void => {
      while (sent < 8 * 1024 * 1024) {
        sent += 64 * 1024;
        if (!req.write(Buffer.alloc(64 * 1024))) {
          req.once("drain", pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
  assert.equal(reply.status, 413);
  assert.match(reply.body, /limit is 1 MB; exclude files with \.stratignore/);
  assert.deepEqual(await readdir(dir), []);
});
