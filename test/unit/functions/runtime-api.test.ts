import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { RuntimeApiServer, type InvocationResult } from "../../../src/functions/runtime-api.js";
import { buildRustBootstrap } from "../../support/rust-function.js";

/**
 * The Runtime API against AWS's published OpenAPI document for version 2018-06-01 (runtime-api.zip in
 * the Lambda docs): its paths, the status codes each may answer, the headers of invocation/next, and the
 * StatusResponse / ErrorResponse schemas. Then two real clients run against it: Strata's Node runtime
 * client, and a Rust function built on the `lambda_runtime` crate from crates.io.
 */
const SPEC = {
  "GET /runtime/invocation/next": [200, 403, 500],
  "POST /runtime/invocation/{AwsRequestId}/response": [202, 400, 403, 413, 500],
  "POST /runtime/invocation/{AwsRequestId}/error": [202, 400, 403, 500],
  "POST /runtime/init/error": [202, 403, 500],
} as const;
const NEXT_HEADERS = ["lambda-runtime-aws-request-id", "lambda-runtime-trace-id", "lambda-runtime-deadline-ms", "lambda-runtime-invoked-function-arn"];

function conformsToStatusResponse(body: unknown): void {
  assert.equal(typeof (body as { status?: unknown }).status, "string", `StatusResponse: ${JSON.stringify(body)}`);
}
function conformsToErrorResponse(body: unknown): void {
  const b = body as { errorMessage?: unknown; errorType?: unknown };
  assert.equal(typeof b.errorMessage, "string", `ErrorResponse.errorMessage: ${JSON.stringify(body)}`);
  assert.equal(typeof b.errorType, "string", `ErrorResponse.errorType: ${JSON.stringify(body)}`);
}

let server: RuntimeApiServer;
let port: number;

function call(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: `/2018-06-01${path}`, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function allowed(op: keyof typeof SPEC, status: number): void {
  assert.ok((SPEC[op] as readonly number[]).includes(status), `${op} answered ${status}, which the spec does not list (${SPEC[op].join(", ")})`);
}

const inv = (requestId: string, payload = "{}") => ({ requestId, payload: Buffer.from(payload), deadlineMs: Date.now() + 3000, functionArn: "arn:aws:lambda:local-1:000000000000:function:f", traceId: "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0" });

describe("Runtime API 2018-06-01", () => {
  before(async () => {
    server = new RuntimeApiServer({ maxResponseBytes: 1024 });
    port = Number((await server.listen(0, "127.0.0.1")).split(":")[1]);
  });
  after(() => server.close());

  test("invocation/next blocks until an invocation comes, then carries it with the spec's headers", async () => {
    server.forget("127.0.0.1", new Error("fresh"));
    const channel = server.channel("127.0.0.1");
    const next = call("GET", "/runtime/invocation/next");
    await channel.initialized(); // the first next ends init
    const result = channel.invoke({ ...inv("r1", '{"a":1}'), clientContext: "eyJjIjoxfQ==", cognitoIdentity: '{"id":"x"}' });
    const got = await next;
    allowed("GET /runtime/invocation/next", got.status);
    assert.equal(got.status, 200);
    for (const h of NEXT_HEADERS) assert.ok(got.headers[h], `missing ${h}`);
    assert.equal(got.headers["lambda-runtime-aws-request-id"], "r1");
    assert.equal(got.headers["lambda-runtime-client-context"], "eyJjIjoxfQ==");
    assert.equal(got.headers["lambda-runtime-cognito-identity"], '{"id":"x"}');
    assert.deepEqual(JSON.parse(got.text), { a: 1 });

    const again = await call("GET", "/runtime/invocation/next");
    allowed("GET /runtime/invocation/next", again.status);
    assert.equal(again.status, 403, "a second next while one invocation is unanswered");
    conformsToErrorResponse(JSON.parse(again.text));

    const wrong = await call("POST", "/runtime/invocation/nope/response", "1");
    allowed("POST /runtime/invocation/{AwsRequestId}/response", wrong.status);
    assert.equal(wrong.status, 400);
    conformsToErrorResponse(JSON.parse(wrong.text));

    const posted = await call("POST", "/runtime/invocation/r1/response", '{"ok":true}', { "content-type": "application/json" });
    allowed("POST /runtime/invocation/{AwsRequestId}/response", posted.status);
    assert.equal(posted.status, 202);
    conformsToStatusResponse(JSON.parse(posted.text));
    const r = (await result) as Extract<InvocationResult, { kind: "response" }>;
    assert.equal(r.kind, "response");
    assert.equal(r.body.toString(), '{"ok":true}');
  });

  test("invocation/{id}/error carries the error document and Lambda-Runtime-Function-Error-Type", async () => {
    const channel = server.channel("127.0.0.1");
    const next = call("GET", "/runtime/invocation/next");
    const result = channel.invoke(inv("r2"));
    assert.equal((await next).status, 200);
    const doc = { errorMessage: "boom", errorType: "Error", stackTrace: ["at x"] };
    const posted = await call("POST", "/runtime/invocation/r2/error", JSON.stringify(doc), { "lambda-runtime-function-error-type": "Error" });
    allowed("POST /runtime/invocation/{AwsRequestId}/error", posted.status);
    assert.equal(posted.status, 202);
    conformsToStatusResponse(JSON.parse(posted.text));
    const r = await result;
    assert.equal(r.kind, "error");
    assert.deepEqual(r.kind === "error" && { type: r.errorType, body: JSON.parse(r.body.toString()) }, { type: "Error", body: doc });
  });

  test("a response over the limit gets 413 and fails the invocation", async () => {
    const channel = server.channel("127.0.0.1");
    const next = call("GET", "/runtime/invocation/next");
    const result = channel.invoke(inv("r3"));
    await next;
    const posted = await call("POST", "/runtime/invocation/r3/response", Buffer.alloc(2048, 0x61));
    allowed("POST /runtime/invocation/{AwsRequestId}/response", posted.status);
    assert.equal(posted.status, 413);
    conformsToErrorResponse(JSON.parse(posted.text));
    const r = await result;
    assert.equal(r.kind === "error" && r.errorType, "Function.ResponseSizeTooLarge");
  });

  test("init/error is accepted before the first next, fails init, and is refused after it", async () => {
    server.forget("127.0.0.1", new Error("fresh"));
    const channel = server.channel("127.0.0.1");
    const init = assert.rejects(channel.initialized(), /Runtime\.ImportModuleError: no module/);
    const posted = await call("POST", "/runtime/init/error", JSON.stringify({ errorMessage: "no module", errorType: "Runtime.ImportModuleError" }), { "lambda-runtime-function-error-type": "Runtime.ImportModuleError" });
    allowed("POST /runtime/init/error", posted.status);
    assert.equal(posted.status, 202);
    conformsToStatusResponse(JSON.parse(posted.text));
    await init;

    server.forget("127.0.0.1", new Error("fresh"));
    const fresh = server.channel("127.0.0.1");
    const next = call("GET", "/runtime/invocation/next");
    await fresh.initialized();
    const late = await call("POST", "/runtime/init/error", "{}");
    allowed("POST /runtime/init/error", late.status);
    assert.equal(late.status, 403);
    conformsToErrorResponse(JSON.parse(late.text));
    server.forget("127.0.0.1", new Error("done"));
    await next.catch(() => undefined); // the waiting poll is closed with the channel
  });

  test("an environment that ends fails its invocation", async () => {
    const channel = server.channel("127.0.0.1");
    const result = channel.invoke(inv("r4"));
    server.forget("127.0.0.1", new Error("instance stopped"));
    await assert.rejects(result, /instance stopped/);
  });
});

/** Runs a real runtime client against the server with Lambda's environment; returns it for stopping. */
function runClient(argv: string[], handler: string, extraEnv: Record<string, string> = {}): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { PATH: process.env.PATH, AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`, _HANDLER: handler, AWS_LAMBDA_FUNCTION_NAME: "f", AWS_LAMBDA_FUNCTION_VERSION: "v1", AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "128", AWS_REGION: "local-1", ...extraEnv },
    stdio: ["ignore", "inherit", "inherit"],
  });
  return child;
}

describe("real runtime clients against the Runtime API", () => {
  before(async () => {
    server = new RuntimeApiServer();
    port = Number((await server.listen(0, "127.0.0.1")).split(":")[1]);
  });
  after(() => server.close());

  test("a Rust function on the lambda_runtime crate runs unchanged", async (t) => {
    const built = await buildRustBootstrap((l) => t.diagnostic(l));
    if ("skip" in built) return t.skip(built.skip);
    server.forget("127.0.0.1", new Error("fresh"));
    const channel = server.channel("127.0.0.1");
    const child = runClient([built.bootstrap], "bootstrap");
    try {
      await channel.initialized();
      const ok = await channel.invoke(inv("rust-1", '{"name":"crab"}'));
      assert.equal(ok.kind, "response");
      assert.deepEqual(JSON.parse(ok.body.toString()), { hello: "crab", requestId: "rust-1", function: "f", memory: 128 });
      const failed = await channel.invoke(inv("rust-2", '{"fail":true}'));
      assert.equal(failed.kind, "error");
      assert.match(failed.body.toString(), /asked to fail/);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
