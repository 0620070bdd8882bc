import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import { test } from "node:test";
import { StrataError } from "../../../src/errors.js";
import type { InstanceSource, Lease } from "../../../src/router/backend.js";
import { routerOver } from "./router-over.js";
import type { Endpoint } from "../../../src/sandbox/driver.js";

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

/** A port nothing listens on: bound, then closed, so a connect is refused. */
async function refusedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

/** Hands out the given endpoints in turn and records how each lease was released. */
class ListedInstances implements InstanceSource {
  readonly releases: Array<{ id: string; unreachable?: string }> = [];
  private next = 0;
  constructor(private readonly endpoints: Endpoint[]) {}
  acquire(): Promise<Lease> {
    const i = Math.min(this.next++, this.endpoints.length - 1);
    const id = `i${i}`;
    return Promise.resolve({
      instanceId: id,
      endpoint: this.endpoints[i]!,
      release: (problem) => void this.releases.push({ id, ...(problem && { unreachable: problem.unreachable.message }) }),
    });
  }
}

function send(port: number, method: string, body?: string): Promise<{ status: number; text: string; requestId?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path: "/", headers: { host: "app.localhost" } }, (res) => {
      let text = "";
      res.on("data", (c) => (text += String(c)));
      const requestId = res.headers["x-strata-request-id"];
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, ...(typeof requestId === "string" && { requestId }) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("a request whose instance refuses the connection is sent to the next instance, and the refusal is reported", { timeout: 10_000 }, async (t) => {
  const app = createServer((req, res) => res.end(`${req.method} answered`));
  const appPort = await listen(app);
  t.after(() => void app.close());
  const instances = new ListedInstances([{ host: "127.0.0.1", port: await refusedPort() }, { host: "127.0.0.1", port: appPort }]);
  const { port } = await routerOver(t, instances);
  assert.deepEqual(await send(port, "GET"), { status: 200, text: "GET answered" });
  assert.equal(instances.releases.length, 2);
  assert.match(instances.releases[0]!.unreachable ?? "", /ECONNREFUSED/);
  assert.deepEqual(instances.releases[1], { id: "i1" });
  // A POST with no body never reached the app either, so it is resent too.
  assert.equal((await send(port, "POST")).status, 200);
});

test("a request with a body is not resent: a refused connection answers 502", { timeout: 10_000 }, async (t) => {
  const app = createServer((_req, res) => res.end("should not be reached"));
  const appPort = await listen(app);
  t.after(() => void app.close());
  const instances = new ListedInstances([{ host: "127.0.0.1", port: await refusedPort() }, { host: "127.0.0.1", port: appPort }]);
  const { port, logs } = await routerOver(t, instances);
  const r = await send(port, "POST", "payload");
  assert.equal(r.status, 502);
  assert.match(r.text, /did not answer/);
  // The instance's address is the platform's business: the client gets a request id for the log instead.
  assert.doesNotMatch(r.text, /ECONNREFUSED|127\.0\.0\.1/);
  assert.match(r.text, new RegExp(`request id: ${r.requestId}`));
  const logged = (await logs.recent("app", 10)).find((l) => l.kind === "access" && l.requestId === r.requestId);
  assert.match(logged?.kind === "access" ? (logged.error ?? "") : "", /ECONNREFUSED/);
});

test("resends stop after three refusals with a 502", { timeout: 10_000 }, async (t) => {
  const instances = new ListedInstances([{ host: "127.0.0.1", port: await refusedPort() }]);
  const { port } = await routerOver(t, instances);
  const r = await send(port, "GET");
  assert.equal(r.status, 502);
  assert.equal(instances.releases.length, 3);
  assert.ok(instances.releases.every((l) => l.unreachable?.includes("ECONNREFUSED")));
});

test("a pooled connection the app closed is retried on a new one, and the instance is not reported", { timeout: 10_000 }, async (t) => {
  // The app drops each kept-alive connection when a second request arrives on it, as a server whose idle
  // timeout fires just as the proxy reuses the connection would.
  const seen = new WeakMap<object, number>();
  const app = createServer((req, res) => {
    const n = (seen.get(req.socket) ?? 0) + 1;
    seen.set(req.socket, n);
    if (n > 1) return void req.socket.destroy();
    res.end("fresh connection");
  });
  const appPort = await listen(app);
  t.after(() => void app.close());
  const instances = new ListedInstances([{ host: "127.0.0.1", port: appPort }]);
  const { port } = await routerOver(t, instances);
  for (let i = 0; i < 3; i++) assert.deepEqual(await send(port, "GET"), { status: 200, text: "fresh connection" });
  assert.ok(instances.releases.length > 3, "at least one request was resent");
  assert.ok(instances.releases.every((l) => l.unreachable === undefined), JSON.stringify(instances.releases));
  // A POST is not resent on a reused connection: the app may have acted on it.
  assert.equal((await send(port, "POST")).status, 502);
});

test("a 503 from the activator says what happened in general terms and gives a request id; the scheduler's reason is logged under it", { timeout: 10_000 }, async (t) => {
  const reason = "instance i1 failed to start: exited (code 1)\nlast lines:\n  DATABASE_URL=postgres://admin:hunter2@db";
  const failing: InstanceSource = { acquire: () => Promise.reject(new StrataError("INSTANCE_FAILED", reason, { retryAfterS: 10 })) };
  const { port, logs } = await routerOver(t, failing);
  const r = await send(port, "GET");
  assert.equal(r.status, 503);
  assert.match(r.text, /no instance of this app could take the request/);
  assert.doesNotMatch(r.text, /hunter2|DATABASE_URL|exited/);
  assert.match(r.requestId ?? "", /^[0-9a-f]{16}$/);
  assert.match(r.text, new RegExp(`request id: ${r.requestId}`));
  const logged = (await logs.recent("app", 10)).find((l) => l.kind === "access" && l.requestId === r.requestId);
  assert.deepEqual(logged?.kind === "access" && { status: logged.status, error: logged.error }, { status: 503, error: reason });
});
