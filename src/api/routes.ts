import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { StrataError } from "../errors.js";
import type { Deployer, ImageGc, TrafficService, VersionRuntime } from "../deploy/index.js";
import type { LogStore } from "../logs/index.js";
import { DEFAULT_SANDBOX, type DriverCatalog } from "../sandbox/index.js";
import type { Store, VersionRecord } from "../store/index.js";
import { parseInput, queryOf, readJsonBody, sendJson, startStream } from "./http.js";
import * as S from "./schemas.js";

export interface ApiDeps {
  store: Store;
  deployer: Deployer;
  traffic: TrafficService;
  logs: LogStore;
  drivers: DriverCatalog;
  runtime: VersionRuntime;
  /** Collects image storage in the background after deletes (the delete never waits or fails for it). */
  imageGc: Pick<ImageGc, "runInBackground">;
  maxUploadBytes: number;
  /** Public URL of an app, or of one version of it. */
  urlOf(app: string, version?: string): string;
}

export interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path with {params}, e.g. /v1/apps/{app}. */
  path: string;
  summary: string;
  auth: boolean;
  body?: z.ZodType;
  query?: z.ZodType;
  response?: z.ZodType;
  /** true when the answer is an NDJSON stream. */
  streams?: boolean;
  handle(req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void>;
}

export function appParam(params: Record<string, string>): string {
  return parseInput(S.AppName, params.app);
}

export function versionOut(deps: Pick<ApiDeps, "store" | "urlOf">, v: VersionRecord): z.infer<typeof S.VersionOut> {
  const traffic = deps.store.getTraffic(v.app)?.allocations[v.version] ?? 0;
  return {
    app: v.app,
    version: v.version,
    status: v.status,
    runtime: v.runtime,
    ...(v.runs && { runs: v.runs }),
    ...(v.driver && { driver: v.driver }),
    traffic,
    createdAt: v.createdAt,
    ...(v.artifact && { digest: v.artifact.digest }),
    sizeBytes: v.sizeBytes,
    url: deps.urlOf(v.app, v.version),
    ...(v.error && { error: v.error }),
  };
}

export function requireApp(store: Store, app: string): void {
  if (!store.getApp(app)) throw new StrataError("APP_NOT_FOUND", `no app named "${app}" (see: strata apps)`);
}

export function coreRoutes(deps: ApiDeps): Route[] {
  const { store } = deps;
  return [
    {
      method: "GET",
      path: "/v1/apps",
      summary: "List apps",
      auth: true,
      response: S.AppOut.array(),
      async handle(_req, res) {
        const out = store.listApps().map((a) => ({
          name: a.name,
          createdAt: a.createdAt,
          url: deps.urlOf(a.name),
          versions: store.listVersions(a.name).length,
          serving: store.getTraffic(a.name)?.allocations ?? {},
        }));
        sendJson(res, 200, out);
      },
    },
    {
      method: "DELETE",
      path: "/v1/apps/{app}",
      summary: "Delete an app, its versions, instances and traffic",
      auth: true,
      async handle(_req, res, params) {
        const app = appParam(params);
        requireApp(store, app);
        await deps.runtime.removeApp(app);
        store.deleteApp(app);
        await deps.traffic.refreshRoutes();
        store.addEvent({ type: "app.deleted", app, message: `app ${app} deleted` });
        await deps.logs.closeApp(app);
        deps.imageGc.runInBackground(`deleting app ${app}`);
        sendJson(res, 200, { deleted: app });
      },
    },
    {
      method: "GET",
      path: "/v1/apps/{app}/versions",
      summary: "List an app's versions",
      auth: true,
      response: S.VersionOut.array(),
      async handle(_req, res, params) {
        const app = appParam(params);
        requireApp(store, app);
        sendJson(res, 200, store.listVersions(app).map((v) => versionOut(deps, v)));
      },
    },
    {
      method: "POST",
      path: "/v1/apps/{app}/versions",
      summary: "Deploy a new version from a tar.gz of the app's folder; streams progress as NDJSON",
      auth: true,
      query: S.DeployQuery,
      response: S.DeployProgress,
      streams: true,
      async handle(req, res, params) {
        const app = appParam(params);
        const q = parseInput(S.DeployQuery, queryOf(req));
        const declared = Number(req.headers["content-length"] ?? 0);
        if (declared > deps.maxUploadBytes) {
          // Refuse before reading a byte; a body sent without a length is cut off by receiveUpload.
          res.setHeader("connection", "close");
          throw new StrataError("ARCHIVE_TOO_LARGE", `the upload is ${Math.ceil(declared / 1048576)} MiB; the limit is ${Math.floor(deps.maxUploadBytes / 1048576)} MiB (exclude files with .stratignore)`);
        }
        const send = startStream(res);
        try {
          const v = await deps.deployer.deploy(
            app,
            req,
            { ...(q.version && { version: q.version }), promote: q.promote === "true" },
            {
              step: (message) => send({ type: "step", message }),
              log: (line) => send({ type: "log", line }),
              warning: (message) => send({ type: "warning", message }),
            },
          );
          const urls = [deps.urlOf(app, v.version), ...(q.promote === "true" ? [deps.urlOf(app)] : [])];
          send({ type: "done", version: versionOut(deps, v), urls });
        } catch (err) {
          const e = err instanceof StrataError ? err : new StrataError("INTERNAL", (err as Error).message);
          send({ type: "error", error: e.toJSON() });
          // An upload refused mid-stream must not be left half-read by the client.
          req.resume();
        }
        res.end();
      },
    },
    {
      method: "DELETE",
      path: "/v1/apps/{app}/versions/{version}",
      summary: "Delete a version that receives no traffic",
      auth: true,
      async handle(_req, res, params) {
        const app = appParam(params);
        const version = parseInput(S.VersionName, params.version);
        if (!store.getVersion(app, version)) throw new StrataError("VERSION_NOT_FOUND", `app "${app}" has no version "${version}"`);
        if ((store.getTraffic(app)?.allocations[version] ?? 0) > 0) {
          throw new StrataError("CONFLICT", `version "${version}" still receives traffic; move it first with: strata traffic migrate ${app} OTHER`);
        }
        await deps.runtime.drain(app, version);
        store.deleteVersion(app, version);
        await deps.traffic.refreshRoutes();
        store.addEvent({ type: "version.deleted", app, version, message: `version ${version} deleted` });
        deps.imageGc.runInBackground(`deleting version ${app}/${version}`);
        sendJson(res, 200, { deleted: version });
      },
    },
    {
      method: "POST",
      path: "/v1/apps/{app}/rollback",
      summary: "Move traffic back to the split before the last change, without a rebuild",
      auth: true,
      response: S.TrafficOut,
      async handle(_req, res, params) {
        sendJson(res, 200, await deps.traffic.rollback(appParam(params)));
      },
    },
    {
      method: "GET",
      path: "/v1/apps/{app}/traffic",
      summary: "The app's traffic split",
      auth: true,
      response: S.TrafficOut,
      async handle(_req, res, params) {
        const app = appParam(params);
        requireApp(store, app);
        sendJson(res, 200, store.getTraffic(app) ?? { app, splitBy: "random", allocations: {} });
      },
    },
    {
      method: "PUT",
      path: "/v1/apps/{app}/traffic",
      summary: "Split traffic between versions",
      auth: true,
      body: S.TrafficSetBody,
      response: S.TrafficOut,
      async handle(req, res, params) {
        const app = appParam(params);
        const body = await readJsonBody(req, S.TrafficSetBody);
        sendJson(res, 200, await deps.traffic.set(app, body.splits, body.splitBy));
      },
    },
    {
      method: "POST",
      path: "/v1/apps/{app}/traffic/migrate",
      summary: "Send all traffic to one version",
      auth: true,
      body: S.TrafficMigrateBody,
      response: S.TrafficOut,
      async handle(req, res, params) {
        const app = appParam(params);
        const body = await readJsonBody(req, S.TrafficMigrateBody);
        sendJson(res, 200, await deps.traffic.migrate(app, body.version));
      },
    },
    {
      method: "GET",
      path: "/v1/apps/{app}/logs",
      summary: "Access lines and instance output; with follow=1, keeps streaming (NDJSON)",
      auth: true,
      streams: true,
      async handle(req, res, params) {
        const app = appParam(params);
        const q = queryOf(req);
        const lines = Math.min(10_000, Math.max(0, Number(q.lines ?? 100) || 0));
        const send = startStream(res);
        if (q.follow === "1") {
          const stop = deps.logs.follow(app, send);
          res.on("close", stop);
        }
        for (const l of await deps.logs.recent(app, lines)) send(l);
        if (q.follow !== "1") res.end();
      },
    },
    {
      method: "GET",
      path: "/v1/events",
      summary: "Platform events; with follow=1, keeps streaming (NDJSON)",
      auth: true,
      streams: true,
      response: S.EventOut,
      async handle(req, res) {
        const q = queryOf(req);
        const limit = Math.min(10_000, Math.max(1, Number(q.limit ?? 50) || 50));
        const send = startStream(res);
        const past = store.listEvents({ limit, ...(q.app && { app: q.app }) });
        for (const e of past) send(e);
        if (q.follow === "1") {
          const stop = store.onEvent((e) => {
            if (!q.app || e.app === q.app) send(e);
          });
          res.on("close", stop);
        } else res.end();
      },
    },
    {
      method: "GET",
      path: "/v1/doctor",
      summary: "Which sandbox drivers this host can run, and why not",
      auth: true,
      async handle(_req, res) {
        const runtimes = Object.fromEntries(Object.entries(DEFAULT_SANDBOX).map(([k, v]) => [k, v.join(" > ")]));
        sendJson(res, 200, { drivers: await deps.drivers.report(), runtimes });
      },
    },
  ];
}
