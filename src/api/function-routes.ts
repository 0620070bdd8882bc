import { z } from "zod";
import { StrataError } from "../errors.js";
import { functionOf } from "../config/index.js";
import type { Functions } from "../functions/index.js";
import { InvokeRefused, MAX_SYNC_PAYLOAD_BYTES } from "../functions/index.js";
import type { Store, VersionRecord } from "../store/index.js";
import { parseInput, queryOf, sendJson, startStream } from "./http.js";
import { appParam, versionOut, type ApiDeps, type Route } from "./routes.js";
import * as S from "./schemas.js";

export const FunctionOut = z.object({
  name: z.string(),
  runtime: z.string(),
  handler: z.string(),
  memoryMb: z.number(),
  timeoutS: z.number(),
  reservedConcurrency: z.number(),
  /** The version receiving invocations (the whole split when there are several). */
  serving: z.record(z.string(), z.number()),
  versions: z.number(),
  url: z.string(),
  createdAt: z.string(),
});
export type FunctionOut = z.infer<typeof FunctionOut>;

export const FunctionDeployQuery = S.DeployQuery.extend({
  /** function.yaml's keys as JSON, from the CLI's flags; they win over the folder's function.yaml. */
  config: z.string().optional(),
});

export const InvokeQuery = z.object({
  async: z.enum(["0", "1"]).default("0"),
  version: S.VersionName.optional(),
});

export interface FunctionApiDeps extends Pick<ApiDeps, "store" | "deployer" | "traffic" | "runtime" | "imageGc" | "logs" | "maxUploadBytes"> {
  functions: Pick<Functions, "invoker" | "async">;
  /** The function URL of a function (http://NAME.fn.DOMAIN:PORT). */
  functionUrlOf(name: string): string;
  /** The API's own URL for a version (the same as apps'). */
  urlOf(app: string, version?: string): string;
}

function latestFunctionVersion(store: Store, name: string): VersionRecord | undefined {
  const versions = store.listVersions(name).filter((v) => v.status === "ready" && functionOf(v.spec));
  return versions.at(-1);
}

function requireFunction(store: Store, name: string): VersionRecord {
  const v = latestFunctionVersion(store, name);
  if (!v) throw new StrataError("NOT_FOUND", `no function named "${name}" (see: strata functions list)`);
  return v;
}

/** The version an invocation runs: the one asked for, else the serving one (the first of a split by weight). */
function invokedVersion(store: Store, name: string, asked: string | undefined): VersionRecord {
  requireFunction(store, name);
  const allocations = store.getTraffic(name)?.allocations ?? {};
  const version = asked ?? Object.entries(allocations).sort((a, b) => b[1] - a[1])[0]?.[0];
  const v = version === undefined ? undefined : store.getVersion(name, version);
  if (!v || v.status !== "ready" || !functionOf(v.spec)) {
    throw new StrataError("VERSION_NOT_FOUND", asked ? `function "${name}" has no ready version "${asked}"` : `function "${name}" has no version receiving invocations`);
  }
  return v;
}

async function readPayload(req: AsyncIterable<unknown>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size <= limit) chunks.push(c as Buffer);
  }
  if (size > limit) throw new InvokeRefused(413, "RequestTooLargeException", `Request must be smaller than ${limit} bytes for the InvokeFunction operation`);
  return Buffer.concat(chunks);
}

/** `/v1/functions/...`: deploy, list, invoke (sync and async), delete. Logs are the app logs route's. */
export function functionRoutes(deps: FunctionApiDeps): Route[] {
  const { store } = deps;
  return [
    {
      method: "GET",
      path: "/v1/functions",
      summary: "List functions",
      auth: true,
      response: FunctionOut.array(),
      async handle(_req, res) {
        const out: FunctionOut[] = [];
        for (const app of store.listApps()) {
          const v = latestFunctionVersion(store, app.name);
          const fn = v && functionOf(v.spec);
          if (!fn) continue;
          out.push({
            name: app.name,
            runtime: fn.runtime,
            handler: fn.handler,
            memoryMb: fn.memoryMb,
            timeoutS: fn.timeoutS,
            reservedConcurrency: fn.reservedConcurrency,
            serving: store.getTraffic(app.name)?.allocations ?? {},
            versions: store.listVersions(app.name).length,
            url: deps.functionUrlOf(app.name),
            createdAt: app.createdAt,
          });
        }
        sendJson(res, 200, out);
      },
    },
    {
      method: "POST",
      path: "/v1/functions/{app}/versions",
      summary: "Deploy a function version from a tar.gz of its folder (function.yaml, or flags in `config`); streams progress as NDJSON",
      auth: true,
      query: FunctionDeployQuery,
      response: S.DeployProgress,
      streams: true,
      async handle(req, res, params) {
        const name = appParam(params);
        const q = parseInput(FunctionDeployQuery, queryOf(req));
        if (Number(req.headers["content-length"] ?? 0) > deps.maxUploadBytes) {
          res.setHeader("connection", "close");
          throw new StrataError("ARCHIVE_TOO_LARGE", `the upload is larger than ${Math.floor(deps.maxUploadBytes / 1048576)} MiB`);
        }
        let functionConfig: Record<string, unknown> = {};
        if (q.config) {
          try {
            functionConfig = JSON.parse(q.config) as Record<string, unknown>;
          } catch (err) {
            throw new StrataError("INVALID_ARGUMENT", `config is not JSON: ${(err as Error).message}`);
          }
        }
        const send = startStream(res);
        try {
          const v = await deps.deployer.deploy(
            name,
            req,
            { ...(q.version && { version: q.version }), promote: q.promote === "true", function: true, functionConfig },
            { step: (message) => send({ type: "step", message }), log: (line) => send({ type: "log", line }), warning: (message) => send({ type: "warning", message }) },
          );
          send({ type: "done", version: versionOut(deps, v), urls: [deps.functionUrlOf(name)] });
        } catch (err) {
          const e = err instanceof StrataError ? err : new StrataError("INTERNAL", (err as Error).message);
          send({ type: "error", error: e.toJSON() });
          req.resume();
        }
        res.end();
      },
    },
    {
      method: "POST",
      path: "/v1/functions/{app}/invocations",
      summary:
        "Invoke a function with the request body as its event. Sync: 200 with the result (X-Amz-Function-Error: Handled|Unhandled and Lambda's error document when it failed); async=1: 202, queued, retried twice on error",
      auth: true,
      query: InvokeQuery,
      async handle(req, res, params) {
        const name = appParam(params);
        const q = parseInput(InvokeQuery, queryOf(req));
        const v = invokedVersion(store, name, q.version);
        try {
          const payload = await readPayload(req, MAX_SYNC_PAYLOAD_BYTES);
          if (q.async === "1") {
            const requestId = deps.functions.async.enqueue(v, payload);
            return sendJson(res, 202, { requestId, status: 202 });
          }
          const r = await deps.functions.invoker.invoke(v, payload);
          res.writeHead(200, {
            "content-type": "application/json",
            "content-length": r.payload.length,
            "x-amzn-requestid": r.requestId,
            "x-amz-executed-version": r.version,
            ...(r.functionError && { "x-amz-function-error": r.functionError }),
          });
          res.end(r.payload);
        } catch (err) {
          if (!(err instanceof InvokeRefused)) throw err;
          const body = JSON.stringify(err.toJSON());
          res.writeHead(err.status, { "content-type": "application/json", "x-amzn-errortype": err.type, "content-length": Buffer.byteLength(body) });
          res.end(body);
        }
      },
    },
    {
      method: "DELETE",
      path: "/v1/functions/{app}",
      summary: "Delete a function, its versions and instances",
      auth: true,
      async handle(_req, res, params) {
        const name = appParam(params);
        requireFunction(store, name);
        await deps.runtime.removeApp(name);
        store.deleteApp(name);
        await deps.traffic.refreshRoutes();
        store.addEvent({ type: "app.deleted", app: name, message: `function ${name} deleted` });
        await deps.logs.closeApp(name);
        deps.imageGc.runInBackground(`deleting function ${name}`);
        sendJson(res, 200, { deleted: name });
      },
    },
  ];
}
