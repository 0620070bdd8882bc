import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { StrataError } from "../../../src/errors.js";
import { encodeExecRequest, GuestExec, parseExecEvent } from "../../../src/sandbox/guest/index.js";

// The guest's side is the real init in the VM drivers' conformance tests (test/unit/{microvm,vm,kata}).
// Here the VMM's end of the port is a unix socket as QEMU's chardev is: what happens when the guest says
// nothing (an init from before exec), when the port is absent, and what the host does with the lines.

let dir: string;
const servers: Server[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-exec-channel-"));
});

after(async () => {
  for (const s of servers) s.close();
  await rm(dir, { recursive: true, force: true });
});

/** A socket that answers each request line with `answer(request, socket)`. */
async function port(name: string, answer: (req: { t: string; id: string; argv?: string[] }, sock: Socket) => void): Promise<string> {
  const path = join(dir, name);
  const server = createServer((sock) => {
    let buf = "";
    sock.on("data", (c: Buffer) => {
      buf += c.toString("utf8");
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        answer(JSON.parse(buf.slice(0, nl)) as { t: string; id: string; argv?: string[] }, sock);
        buf = buf.slice(nl + 1);
      }
    });
    sock.on("error", () => undefined); // the host end closes first
  });
  servers.push(server);
  await new Promise<void>((res) => server.listen(path, res));
  return path;
}

const line = (v: unknown) => `${JSON.stringify(v)}\n`;

function collect() {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  return { out, err, io: { stdout: (c: Buffer) => out.push(c), stderr: (c: Buffer) => err.push(c) } };
}

describe("guest exec channel (host end)", () => {
  it("encodes requests and parses events as init/exec.go writes them", () => {
    assert.equal(encodeExecRequest({ t: "exec", id: "ab", argv: ["sh", "-c", "x"] }), '{"t":"exec","id":"ab","argv":["sh","-c","x"]}\n');
    assert.deepEqual(parseExecEvent('{"t":"out","id":"ab","s":"stderr","d":"aGk="}'), { t: "out", id: "ab", s: "stderr", d: "aGk=" });
    assert.deepEqual(parseExecEvent('{"t":"exit","id":"ab","code":127,"error":"sh: not found"}'), { t: "exit", id: "ab", code: 127, error: "sh: not found" });
    assert.equal(parseExecEvent('d":"aGk="}'), null, "the tail of a line an earlier session was cut in");
    assert.equal(parseExecEvent('{"t":"log","s":"stdout","l":"x"}'), null);
  });

  it("streams output, drops what belongs to another session, and resolves to the exit code", async () => {
    const path = await port("ok.sock", (req, sock) => {
      assert.equal(req.t, "exec");
      assert.deepEqual(req.argv, ["/bin/sh", "-c", "x"]);
      sock.write('"stale","d":"eA=="}\n'); // an aborted session's message, cut in two
      sock.write(line({ t: "out", id: "another", s: "stdout", d: Buffer.from("old\n").toString("base64") }));
      sock.write(line({ t: "started", id: req.id }));
      // One message split across writes, as a stream may deliver it.
      const msg = line({ t: "out", id: req.id, s: "stdout", d: Buffer.from("hello\n").toString("base64") });
      sock.write(msg.slice(0, 10));
      setTimeout(() => {
        sock.write(msg.slice(10));
        sock.write(line({ t: "out", id: req.id, s: "stderr", d: Buffer.from("oops\n").toString("base64") }) + line({ t: "exit", id: req.id, code: 7 }));
      }, 20);
    });
    const { out, err, io } = collect();
    assert.equal(await new GuestExec().run("i1", path, ["/bin/sh", "-c", "x"], io), 7);
    assert.equal(Buffer.concat(out).toString(), "hello\n");
    assert.equal(Buffer.concat(err).toString(), "oops\n");
  });

  it("says why a command did not start, on stderr, with the guest's code", async () => {
    const path = await port("notfound.sock", (req, sock) => sock.write(line({ t: "exit", id: req.id, code: 127, error: "nope: not found on the image's PATH" })));
    const { err, io } = collect();
    assert.equal(await new GuestExec().run("i2", path, ["nope"], io), 127);
    assert.equal(Buffer.concat(err).toString(), "strata exec: nope: not found on the image's PATH\n");
  });

  it("a guest that never answers (an init from before exec) is a clear error, not a hang", async () => {
    const path = await port("silent.sock", () => undefined);
    await assert.rejects(new GuestExec({ answerMs: 300 }).run("i3", path, ["true"], collect().io), (err: unknown) => {
      assert.ok(err instanceof StrataError);
      assert.equal(err.code, "SANDBOX_UNAVAILABLE");
      assert.match(err.message, /did not answer on its exec port within 0.3 s: its init predates strata exec/);
      return true;
    });
  });

  it("a VM without an exec port (started before exec) is a clear error", async () => {
    await assert.rejects(new GuestExec().run("i4", join(dir, "absent.sock"), ["true"], collect().io), (err: unknown) => {
      assert.ok(err instanceof StrataError);
      assert.equal(err.code, "SANDBOX_UNAVAILABLE");
      assert.match(err.message, /instance i4 has no exec port/);
      return true;
    });
  });

  it("an abort asks the guest to kill the command and resolves to its end", async () => {
    const seen: string[] = [];
    const path = await port("kill.sock", (req, sock) => {
      seen.push(req.t);
      if (req.t === "exec") sock.write(line({ t: "started", id: req.id }));
      else sock.write(line({ t: "exit", id: req.id, code: 137 }));
    });
    const abort = new AbortController();
    const run = new GuestExec().run("i5", path, ["sleep", "100"], { ...collect().io, signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    assert.equal(await run, 137);
    assert.deepEqual(seen, ["exec", "kill"]);
  });

  it("runs one session at a time per instance: the next connects when the last has ended", async () => {
    let open = 0;
    let most = 0;
    const path = await port("queue.sock", (req, sock) => {
      open++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        sock.write(line({ t: "exit", id: req.id, code: Number(req.argv?.[0]) }));
      }, 30);
    });
    const exec = new GuestExec();
    const codes = await Promise.all([1, 2, 3].map((n) => exec.run("i6", path, [String(n)], collect().io)));
    assert.deepEqual(codes, [1, 2, 3]);
    assert.equal(most, 1);
  });

  it("a port that closes before the exit code is an error", async () => {
    const path = await port("closes.sock", (req, sock) => {
      sock.write(line({ t: "started", id: req.id }));
      sock.end();
    });
    await assert.rejects(new GuestExec().run("i7", path, ["true"], collect().io), /exec port closed before the command's exit code came/);
  });
});
