import http from "node:http";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../errors.js";
import { APP_START_TIMEOUT_SEC, type AppYaml } from "../config/index.js";
import type { Capabilities, Endpoint } from "../sandbox/index.js";

/**
 * How long an instance has to listen, by its driver's cold-start class (capabilities.coldStart): a
 * multiple of the expected start, with room for a loaded host and a slow app boot.
 */
export const READY_BUDGET_MS: Readonly<Record<Capabilities["coldStart"], number>> = { ms: 15_000, "sub-second": 30_000, seconds: 120_000 };

/** How long an instance has to listen, and where that figure comes from (for the message when it does not). */
export interface StartBudget {
  readonly ms: number;
  readonly from: string;
}

/**
 * An instance's start budget: its app.yaml's `readiness_check.app_start_timeout_sec` (App Engine flexible's
 * key), else the daemon's (config.yaml `scheduler.app-start-timeout-sec`), else its driver's cold-start class.
 */
export function startBudget(spec: AppYaml, driver: { name: string; capabilities: Pick<Capabilities, "coldStart"> }, daemonMs?: number): StartBudget {
  const own = spec.readiness_check?.app_start_timeout_sec;
  if (own !== undefined) return { ms: own * 1000, from: "app.yaml readiness_check.app_start_timeout_sec" };
  if (daemonMs !== undefined) return { ms: daemonMs, from: "config.yaml scheduler.app-start-timeout-sec" };
  return { ms: READY_BUDGET_MS[driver.capabilities.coldStart], from: `the ${driver.name} default` };
}

/** What a user can do when an instance missed its start budget. */
export function budgetHint(b: StartBudget): string {
  return `${b.ms / 1000} s, ${b.from}; an app that needs longer sets readiness_check: { app_start_timeout_sec: N } in app.yaml (${APP_START_TIMEOUT_SEC.min} to ${APP_START_TIMEOUT_SEC.max})`;
}

export interface ReadinessOptions {
  timeoutMs: number;
  /** Said after the timeout when the instance does not listen in time: where the budget comes from, and how to change it. */
  timeoutHint?: string;
  /** After TCP accepts: GET this path and expect a non-5xx answer (e.g. /_ah/warmup). */
  httpPath?: string;
  /** Polled between attempts: a sandbox that died will never become ready. */
  stillRunning: () => Promise<boolean>;
  /**
   * How the instance says it is ready: it listens on its port (apps), or its runtime asks Lambda's
   * Runtime API for an invocation (functions, which listen on nothing; the daemon's Readiness knows the API).
   */
  via?: "port" | "runtime-api";
}

function tryConnect(endpoint: Endpoint): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = "socket" in endpoint ? net.connect(endpoint.socket) : net.connect(endpoint.port, endpoint.host);
    sock.setTimeout(1000);
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
    sock.once("timeout", () => {
      sock.destroy();
      resolve(false);
    });
  });
}

export function httpGet(endpoint: Endpoint, path: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { ...("socket" in endpoint ? { socketPath: endpoint.socket } : { host: endpoint.host, port: endpoint.port }), path, timeout: timeoutMs, agent: false },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** Longest pause between two connect attempts: a refused connect is cheap, and each pause is start-up time the request waits. */
const MAX_POLL_DELAY_MS = 20;
/** How often the sandbox itself is asked whether it still runs (a runtime CLI call, tens of ms). */
const LIVENESS_EVERY_MS = 200;

/** Readiness is the scheduler's job, not the driver's: TCP connect, then an optional HTTP check. */
export async function waitReady(endpoint: Endpoint, opts: ReadinessOptions): Promise<void> {
  if (opts.via === "runtime-api") throw new StrataError("INTERNAL", "this scheduler has no Runtime API to learn a function instance's readiness from");
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 2;
  let livenessCheckedAt = Date.now();
  for (;;) {
    if (await tryConnect(endpoint)) break;
    if (Date.now() > deadline) throw new StrataError("INSTANCE_FAILED", `the app did not listen on its port within ${opts.timeoutMs} ms${opts.timeoutHint ? ` (${opts.timeoutHint})` : ""}`);
    if (Date.now() - livenessCheckedAt >= LIVENESS_EVERY_MS) {
      if (!(await opts.stillRunning())) throw new StrataError("INSTANCE_FAILED", "the app exited before it listened on its port");
      livenessCheckedAt = Date.now();
    }
    await sleep(delay);
    delay = Math.min(MAX_POLL_DELAY_MS, delay * 2);
  }
  if (opts.httpPath) {
    const left = Math.max(1000, deadline - Date.now());
    const status = await httpGet(endpoint, opts.httpPath, left);
    if (status >= 500) throw new StrataError("INSTANCE_FAILED", `GET ${opts.httpPath} answered ${status}`);
  }
}

/** How the supervisor learns an instance serves: over the network here, faked in unit tests. */
export interface Readiness {
  /** Resolves once the instance at `endpoint` listens (and answers `httpPath`); throws when it will not. */
  ready(endpoint: Endpoint, opts: ReadinessOptions): Promise<void>;
  /** Whether a re-adopted instance answers `GET /` within `timeoutMs`. */
  answers(endpoint: Endpoint, timeoutMs: number): Promise<boolean>;
}

export const networkReadiness: Readiness = {
  ready: waitReady,
  answers: (endpoint, timeoutMs) =>
    httpGet(endpoint, "/", timeoutMs).then(
      () => true,
      () => false, // refused, reset or silent: all mean it does not serve
    ),
};
