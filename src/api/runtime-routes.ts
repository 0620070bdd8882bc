import type { PlatformMetrics } from "../metrics/index.js";
import type { Scheduler } from "../scheduler/index.js";
import type { Store } from "../store/index.js";
import { asStrataError } from "../errors.js";
import { readJsonBody, sendJson, startStream } from "./http.js";
import { appParam, requireApp, type Route } from "./routes.js";
import { ExecIn, ExecProgress, InstanceOut, ScalingOut } from "./schemas.js";

/** Routes about what runs: instances of an app, and the Prometheus metrics. */
export function instanceRoutes(store: Store, scheduler: Scheduler): Route[] {
  return [
    {
      method: "GET",
      path: "/v1/apps/{app}/instances",
      summary: "An app's instances: driver, address, state, in-flight requests, CPU, memory, uptime",
      auth: true,
      response: InstanceOut.array(),
      async handle(_req, res, params) {
        const app = appParam(params);
        requireApp(store, app);
        sendJson(res, 200, await scheduler.describe(app));
      },
    },
    {
      method: "GET",
      path: "/v1/apps/{app}/scaling",
      summary: "The autoscaler's last decision per version of an app: instances running and wanted, the mode, the reason",
      auth: true,
      response: ScalingOut.array(),
      async handle(_req, res, params) {
        const app = appParam(params);
        requireApp(store, app);
        sendJson(res, 200, scheduler.scaling(app));
      },
    },
    {
      method: "POST",
      path: "/v1/apps/{app}/exec",
      summary: "Run a command in a running instance of an app (the one named, else the first ready one); streams its output and exit code as NDJSON",
      auth: true,
      body: ExecIn,
      response: ExecProgress,
      streams: true,
      async handle(req, res, params) {
        const app = appParam(params);
        requireApp(store, app);
        const input = await readJsonBody(req, ExecIn);
        const target = scheduler.execTarget(app, input.instance);
        const send = startStream(res);
        // The client going away (Ctrl-C on strata exec) ends the command.
        const abort = new AbortController();
        res.on("close", () => abort.abort());
        send({ type: "instance", id: target.instanceId });
        try {
          const code = await target.run(input.command, {
            stdout: (chunk) => send({ type: "stdout", data: chunk.toString("base64") }),
            stderr: (chunk) => send({ type: "stderr", data: chunk.toString("base64") }),
            signal: abort.signal,
          });
          send({ type: "exit", code });
        } catch (err) {
          send({ type: "error", error: asStrataError(err).toJSON() });
        }
        res.end();
      },
    },
  ];
}

export function metricsRoute(metrics: PlatformMetrics): Route {
  return {
    method: "GET",
    path: "/metrics",
    summary: "Prometheus metrics (text format); the API listens on loopback only",
    auth: false,
    async handle(_req, res) {
      const text = await metrics.text();
      res.writeHead(200, { "content-type": metrics.registry.contentType });
      res.end(text);
    },
  };
}
