/**
 * functions/: hosted functions with Lambda's programming model. The Runtime API every instance talks to
 * (runtime-api.ts), synchronous and asynchronous invocation (invoker.ts, async-invoker.ts), function URLs
 * (function-urls.ts, url-event.ts). Instances come from the scheduler through the FunctionInstances
 * port, with one invocation in flight per instance; the sandbox is whichever driver the version chose.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../errors.js";
import type { Endpoint } from "../sandbox/index.js";
import type { LogLine } from "../logs/index.js";
import type { NewEvent, VersionRecord } from "../store/index.js";
import { AsyncInvoker } from "./async-invoker.js";
import { FunctionUrls } from "./function-urls.js";
import { Invoker, type FunctionInstances } from "./invoker.js";
import { RuntimeApiServer } from "./runtime-api.js";

export { InvokeRefused, type FunctionErrorKind, type LambdaErrorDocument } from "./errors.js";
export { MAX_SYNC_PAYLOAD_BYTES, type InvokeResult, type FunctionInstances, type FunctionLease } from "./invoker.js";
export { MAX_ASYNC_PAYLOAD_BYTES } from "./async-invoker.js";
export { RUNTIME_API_VERSION, RuntimeApiServer } from "./runtime-api.js";

/** The port the Runtime API listens on, at the host's bridge address (AWS's runtime interface emulator uses it too). */
export const RUNTIME_API_PORT = 9001;

export interface FunctionsDeps {
  instances: FunctionInstances;
  logs: { append(line: LogLine): void };
  events: { addEvent(e: NewEvent): void };
  versionOf(fn: string, version: string): VersionRecord | undefined;
  peakMemoryOf(app: string, instanceId: string, since: number): Promise<number | undefined>;
  /** Where asynchronous invocations wait, one file each (StrataHome.asyncQueue). */
  asyncQueueDir: string;
  /** Pauses before the two retries of a failed asynchronous invocation (Lambda: about 1 and 2 minutes). */
  asyncRetryDelaysMs?: readonly number[];
}

/** The readiness options the scheduler passes (structurally its ReadinessOptions). */
interface ReadyOptions {
  timeoutMs: number;
  stillRunning: () => Promise<boolean>;
}

const addressOf = (e: Endpoint) => ("socket" in e ? e.socket : e.host);

export class Functions {
  readonly runtimeApi = new RuntimeApiServer();
  readonly invoker: Invoker;
  readonly async: AsyncInvoker;
  readonly urls: FunctionUrls;

  constructor(deps: FunctionsDeps) {
    this.invoker = new Invoker({ instances: deps.instances, runtimeApi: this.runtimeApi, logs: deps.logs, peakMemoryOf: deps.peakMemoryOf });
    this.async = new AsyncInvoker({ invoker: this.invoker, events: deps.events, queueDir: deps.asyncQueueDir, ...(deps.asyncRetryDelaysMs && { retryDelaysMs: deps.asyncRetryDelaysMs }) });
    this.urls = new FunctionUrls({ invoker: this.invoker, versionOf: deps.versionOf });
  }

  /** Listens at `host`:RUNTIME_API_PORT (the bridge address instances reach); returns AWS_LAMBDA_RUNTIME_API's value. */
  listen(host: string, port = RUNTIME_API_PORT): Promise<string> {
    return this.runtimeApi.listen(port, host);
  }

  /** host:port for AWS_LAMBDA_RUNTIME_API, once listening. */
  get runtimeApiAddress(): string | undefined {
    return this.runtimeApi.address;
  }

  /**
   * A function instance is ready when its runtime first asks for an invocation (its init is done); it
   * fails when the runtime reports an init error or exits first, or after the init budget.
   */
  async ready(endpoint: Endpoint, opts: ReadyOptions): Promise<void> {
    const channel = this.runtimeApi.channel(addressOf(endpoint));
    let settled = false;
    const init = channel.initialized();
    init.then(
      () => (settled = true),
      () => (settled = true), // the race below reports it
    );
    const deadline = Date.now() + opts.timeoutMs;
    const watch = (async () => {
      while (!settled) {
        await sleep(200);
        if (settled) return;
        if (Date.now() > deadline) throw new StrataError("INSTANCE_FAILED", `the function's runtime did not ask the Runtime API for an invocation within ${opts.timeoutMs} ms (its init is too slow, or it does not speak the Runtime API)`);
        if (!(await opts.stillRunning())) throw new StrataError("INSTANCE_FAILED", "the function's runtime exited during init (Runtime.ExitError); see strata functions logs");
      }
    })();
    await Promise.race([init, watch]);
  }

  /** The instance at `endpoint` stopped: its invocation (if any) fails and its channel goes. */
  instanceGone(endpoint: Endpoint): void {
    this.runtimeApi.forget(addressOf(endpoint), new StrataError("INSTANCE_FAILED", "the function's instance stopped"));
  }

  async close(): Promise<number> {
    const dropped = this.async.close();
    await this.runtimeApi.close();
    return dropped;
  }
}
