import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { exec } from "../../../src/system/exec.js";
import { call, startTestWorker } from "./helpers.js";
import { StreamedResponse } from "./stream-client.js";
import { request } from "node:http";
import type { Instance } from "../../../src/sandbox/driver.js";

/**
 * A worker's fetch() response reaches it as the server sends it, not buffered whole. The server runs in
 * a network namespace this test makes, at an address tenants may reach (198.18.0.0/15, the benchmarking
 * range, is not private), since the engine refuses loopback to tenants.
 */
const NS = `strata-tfetch-${process.pid}`;
const HOST_LINK = `stf${process.pid % 100000}`;
const SERVER = "198.18.77.2";
const ORIGIN = `http://${SERVER}:8080`;
const BIG = 34 * 1024 * 1024; // past the 32 MiB the engine used to buffer at most

const SERVER_JS = `
const http = require("node:http");
let release = null;
const held = new Promise((r) => (release = r));
http.createServer((req, res) => {
  if (req.url === "/stream") { res.writeHead(200, { "content-type": "text/plain" }); res.write("first,"); held.then(() => res.end("rest")); }
  else if (req.url === "/release") { release(); res.end("released"); }
  else if (req.url === "/big") {
    res.writeHead(200, { "content-length": ${BIG} });
    const chunk = Buffer.alloc(65536, 120);
    let sent = 0;
    const more = () => { while (sent < ${BIG}) { sent += chunk.length; if (!res.write(chunk)) return void res.once("drain", more); } res.end(); };
    more();
  } else { res.writeHead(404).end(); }
}).listen(8080, "${SERVER}");
`;

const WORKER = `
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const target = url.searchParams.get("url");
    const r = await fetch(target);
    if (url.pathname === "/size") {
      const reader = r.body.getReader();
      let n = 0;
      for (let c = await reader.read(); !c.done; c = await reader.read()) n += c.value.byteLength;
      return new Response(String(n));
    }
    return new Response(r.body, { status: r.status, headers: { "content-type": "text/plain" } });
  },
};
`;

let server: ChildProcess | undefined;

before(async () => {
  await exec(["ip", "netns", "add", NS]);
  await exec(["ip", "link", "add", HOST_LINK, "type", "veth", "peer", "name", "eth0", "netns", NS]);
  await exec(["ip", "addr", "add", "198.18.77.1/30", "dev", HOST_LINK]);
  await exec(["ip", "link", "set", HOST_LINK, "up"]);
  await exec(["ip", "-n", NS, "addr", "add", `${SERVER}/30`, "dev", "eth0"]);
  await exec(["ip", "-n", NS, "link", "set", "eth0", "up"]);
  await exec(["ip", "-n", NS, "link", "set", "lo", "up"]);
  server = spawn("ip", ["netns", "exec", NS, process.execPath, "-e", SERVER_JS], { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(8080, SERVER, () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (up) break;
    assert.ok(i < 100, "the test server in the namespace did not start listening");
    await sleep(50);
  }
});

after(async () => {
  server?.kill("SIGKILL");
  await exec(["ip", "netns", "del", NS], { okCodes: [0, 1] }); // its end of the veth pair goes with it, and the host end too
});

function open(instance: Instance, path: string): Promise<StreamedResponse> {
  const socketPath = (instance.endpoint as { socket: string }).socket;
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, headers: { host: "fetcher.localhost" } }, (res) => resolve(new StreamedResponse(res)));
    req.on("error", reject);
    req.end();
  });
}

test("a fetch() response body reaches the worker, and through it the client, while the server is still sending it", async (t) => {
  const { inst } = await startTestWorker(t, "fetcher", WORKER);
  const res = await open(inst, `/proxy?url=${encodeURIComponent(`${ORIGIN}/stream`)}`);
  assert.equal(await res.until(/first,/), "first,", "the first chunk is through before the server sent the rest");
  assert.equal((await call(inst, `/proxy?url=${encodeURIComponent(`${ORIGIN}/release`)}`)).body, "released");
  await res.until(null);
  assert.equal(res.text, "first,rest");
  assert.equal(res.ended, "end");
});

test("a response larger than the engine ever buffered (34 MiB) is read through chunk by chunk", async (t) => {
  const { inst } = await startTestWorker(t, "fetcher-big", WORKER, { cpuMsPerRequest: 2_000 });
  const r = await call(inst, `/size?url=${encodeURIComponent(`${ORIGIN}/big`)}`);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, String(BIG));
});
