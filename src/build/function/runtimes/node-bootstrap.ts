/**
 * Strata's Node.js runtime client, bundled by esbuild into each nodejs function image as
 * /opt/strata/bootstrap.mjs. It speaks only Lambda's Runtime API (AWS_LAMBDA_RUNTIME_API), as AWS's
 * own runtime interface client does: load the handler `_HANDLER` (`file.export`, the file .js, .mjs or
 * .cjs under LAMBDA_TASK_ROOT, ES module or CommonJS), then loop on invocation/next, calling
 * `handler(event, context)` (async, or with a callback as its third argument) and posting the result or
 * the error in Lambda's shape. It imports nothing but Node's built-ins.
 */
import http from "node:http";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { format } from "node:util";
import { pathToFileURL } from "node:url";

type Handler = (event: unknown, context: LambdaContext, callback?: (err: unknown, result?: unknown) => void) => unknown;

interface LambdaContext {
  awsRequestId: string;
  invokedFunctionArn: string;
  functionName: string;
  functionVersion: string;
  memoryLimitInMB: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  clientContext?: unknown;
  identity?: unknown;
  getRemainingTimeInMillis(): number;
}

const [apiHost, apiPort] = (process.env.AWS_LAMBDA_RUNTIME_API ?? "").split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BASE = "/2018-06-01/runtime";

function call(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: apiHost, port: Number(apiPort), method, path: BASE + path, agent, headers: { ...headers, ...(body !== undefined && { "content-type": "application/json", "content-length": Buffer.byteLength(body) }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const CONNECTION_ERRORS = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH"]);
/** How long the runtime keeps asking for work while the Runtime API is away (a daemon restart). */
const API_AWAY_MS = 300_000;

/**
 * GET invocation/next. A connection the Runtime API closed or refuses (the daemon restarting) is asked
 * again, backing off to 1 s, so the instance outlives a daemon restart and is re-adopted; other errors end it.
 */
async function nextInvocation(): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const deadline = Date.now() + API_AWAY_MS;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await call("GET", "/invocation/next");
    } catch (err) {
      if (!CONNECTION_ERRORS.has((err as NodeJS.ErrnoException).code ?? "") || Date.now() > deadline) throw err;
      await sleep(delay);
    }
  }
}

function errorShape(err: unknown): { errorType: string; errorMessage: string; stackTrace: string[] } {
  if (err instanceof Error) {
    return { errorType: err.name || "Error", errorMessage: err.message, stackTrace: (err.stack ?? "").split("\n").slice(1).map((l) => l.trim()) };
  }
  return { errorType: typeof err === "string" ? "string" : "Error", errorMessage: typeof err === "string" ? err : format(err), stackTrace: [] };
}

async function postError(path: string, err: unknown, fallbackType?: string): Promise<void> {
  const shape = errorShape(err);
  if (fallbackType) shape.errorType = fallbackType;
  await call("POST", path, JSON.stringify(shape), { "lambda-runtime-function-error-type": shape.errorType });
}

class HandlerNotFound extends Error {
  override name = "Runtime.HandlerNotFound";
}
class ImportModuleError extends Error {
  override name = "Runtime.ImportModuleError";
}

async function loadHandler(): Promise<Handler> {
  const spec = process.env._HANDLER ?? "";
  const root = process.env.LAMBDA_TASK_ROOT ?? "/var/task";
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) throw new HandlerNotFound(`Bad handler ${spec}: it must be file.export, like index.handler`);
  const file = spec.slice(0, dot);
  const name = spec.slice(dot + 1);
  const path = [".js", ".mjs", ".cjs"].map((ext) => join(root, file + ext)).find((p) => existsSync(p));
  if (!path) throw new ImportModuleError(`Error: Cannot find module '${file}' in ${root} (looked for .js, .mjs and .cjs)`);
  const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown> & { default?: Record<string, unknown> };
  const fn = mod[name] ?? mod.default?.[name];
  if (typeof fn !== "function") throw new HandlerNotFound(`${file}.${name} is undefined or not exported`);
  return fn as Handler;
}

/** Lambda's log format for console output: time, request id, level, message. */
let currentRequestId: string | undefined;
for (const [method, level] of [["log", "INFO"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"], ["debug", "DEBUG"], ["trace", "TRACE"]] as const) {
  const stream = level === "INFO" || level === "DEBUG" ? process.stdout : process.stderr;
  console[method] = (...args: unknown[]) => {
    stream.write(`${new Date().toISOString()}\t${currentRequestId ?? "undefined"}\t${level}\t${format(...args).replace(/\n/g, "\r")}\n`);
  };
}

function run(handler: Handler, event: unknown, context: LambdaContext): Promise<unknown> {
  if (handler.length < 3) return Promise.resolve(handler(event, context));
  return new Promise((resolve, reject) => {
    const maybe = handler(event, context, (err, result) => (err ? reject(err) : resolve(result)));
    if (maybe && typeof (maybe as Promise<unknown>).then === "function") (maybe as Promise<unknown>).then(resolve, reject);
  });
}

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  let handler: Handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    console.error(err);
    await postError("/init/error", err, err instanceof SyntaxError ? "Runtime.UserCodeSyntaxError" : undefined);
    process.exit(1);
  }
  const env = process.env;
  for (;;) {
    const next = await nextInvocation();
    if (next.status !== 200) throw new Error(`invocation/next answered ${next.status}: ${next.body}`);
    const requestId = String(next.headers["lambda-runtime-aws-request-id"]);
    const deadline = Number(next.headers["lambda-runtime-deadline-ms"]);
    currentRequestId = requestId;
    if (next.headers["lambda-runtime-trace-id"]) env._X_AMZN_TRACE_ID = String(next.headers["lambda-runtime-trace-id"]);
    else delete env._X_AMZN_TRACE_ID;
    const clientContext = parseJson(next.headers["lambda-runtime-client-context"] as string | undefined);
    const identity = parseJson(next.headers["lambda-runtime-cognito-identity"] as string | undefined);
    const context: LambdaContext = {
      awsRequestId: requestId,
      invokedFunctionArn: String(next.headers["lambda-runtime-invoked-function-arn"]),
      functionName: env.AWS_LAMBDA_FUNCTION_NAME ?? "",
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION ?? "",
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? "",
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? "",
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME ?? "",
      callbackWaitsForEmptyEventLoop: true,
      ...(clientContext !== undefined && { clientContext }),
      ...(identity !== undefined && { identity }),
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    try {
      const result = await run(handler, JSON.parse(next.body || "null"), context);
      await call("POST", `/invocation/${encodeURIComponent(requestId)}/response`, JSON.stringify(result === undefined ? null : result));
    } catch (err) {
      console.error(err);
      await postError(`/invocation/${encodeURIComponent(requestId)}/error`, err);
    }
    currentRequestId = undefined;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
