import { randomBytes, randomUUID } from "node:crypto";
import { asStrataError } from "../errors.js";
import { functionArn, functionOf } from "../config/index.js";
import type { LogLine } from "../logs/index.js";
import type { Endpoint } from "../sandbox/index.js";
import type { VersionRecord } from "../store/index.js";
import { errorDocumentOf, InvokeRefused, type FunctionErrorKind, type LambdaErrorDocument } from "./errors.js";
import type { RuntimeApiServer, InvocationResult } from "./runtime-api.js";

/** Lambda's synchronous payload limit (request and response): 6 MB. */
export const MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** An instance lent to one invocation (the scheduler's lease: one in flight per instance). */
export interface FunctionLease {
  readonly instanceId: string;
  readonly endpoint: Endpoint;
  release(): void;
  /** The instance must not serve again (it timed out mid-invocation): it is stopped. */
  retire(reason: string): void;
  /** Start → ready, ms, of an instance restored from a snapshot (its first REPORT shows Restore Duration, as SnapStart's). */
  readonly restoreMs?: number;
}

/** Where function instances come from: the scheduler, with a concurrency target of 1 per instance. */
export interface FunctionInstances {
  acquire(app: string, version: string): Promise<FunctionLease>;
}

export interface InvokerDeps {
  instances: FunctionInstances;
  runtimeApi: RuntimeApiServer;
  logs: { append(line: LogLine): void };
  /** The instance's peak memory, bytes (REPORT's Max Memory Used), as sampled at or after `since` (ms), when its driver can tell. */
  peakMemoryOf(app: string, instanceId: string, since: number): Promise<number | undefined>;
}

export interface InvokeOptions {
  /** Base64 JSON of the mobile SDK's client context (Lambda's X-Amz-Client-Context). */
  clientContext?: string;
  requestId?: string;
}

export interface InvokeResult {
  requestId: string;
  version: string;
  payload: Buffer;
  /** Set when the function failed: the payload is then Lambda's error document. */
  functionError?: FunctionErrorKind;
  durationMs: number;
  /** Set on the invocation that started its instance (a cold start that booted and ran the init). */
  initDurationMs?: number;
  /** Set instead on the first invocation of an instance restored from its version's snapshot. */
  restoreDurationMs?: number;
}

/**
 * Runs one invocation as Lambda does: within the function's reserved concurrency (else 429), on an
 * instance that runs nothing else, handed to its runtime through the Runtime API, bounded by the
 * function's timeout (after which the instance is recycled and the caller gets Lambda's timeout error),
 * logged with START, END and REPORT lines in Lambda's format.
 */
export class Invoker {
  private readonly inflight = new Map<string, number>();

  constructor(private readonly deps: InvokerDeps) {}

  async invoke(v: VersionRecord, payload: Buffer, opts: InvokeOptions = {}): Promise<InvokeResult> {
    const fn = functionOf(v.spec);
    if (!fn) throw new InvokeRefused(400, "InvalidParameterValueException", `${v.app} is an app, not a function`);
    if (payload.length > MAX_SYNC_PAYLOAD_BYTES) {
      throw new InvokeRefused(413, "RequestTooLargeException", `Request must be smaller than ${MAX_SYNC_PAYLOAD_BYTES} bytes for the InvokeFunction operation`);
    }
    const busy = this.inflight.get(v.app) ?? 0;
    if (busy >= fn.reservedConcurrency) {
      throw new InvokeRefused(429, "TooManyRequestsException", "Rate Exceeded.", "ReservedFunctionConcurrentInvocationLimitExceeded");
    }
    this.inflight.set(v.app, busy + 1);
    try {
      return await this.run(v, fn.timeoutS, fn.memoryMb, payload, opts);
    } finally {
      const n = (this.inflight.get(v.app) ?? 1) - 1;
      if (n > 0) this.inflight.set(v.app, n);
      else this.inflight.delete(v.app);
    }
  }

  private async run(v: VersionRecord, timeoutS: number, memoryMb: number, payload: Buffer, opts: InvokeOptions): Promise<InvokeResult> {
    const requestId = opts.requestId ?? randomUUID();
    let lease: FunctionLease;
    try {
      lease = await this.deps.instances.acquire(v.app, v.version);
    } catch (err) {
      // No instance could start: Lambda answers the invoke with the init error, as Unhandled.
      const e = asStrataError(err);
      const init = /the function's init failed \(([^:]+): ([\s\S]*?)\)(?:\n|$)/.exec(e.message);
      if (!init && e.code !== "INSTANCE_FAILED") throw e;
      const doc: LambdaErrorDocument = init ? { errorType: init[1]!, errorMessage: init[2]! } : { errorType: "Runtime.Unknown", errorMessage: e.message };
      this.log(v, "-", `START RequestId: ${requestId} Version: ${v.version}`);
      this.log(v, "-", `END RequestId: ${requestId}`);
      this.log(v, "-", `REPORT RequestId: ${requestId}\tDuration: 0.00 ms\tBilled Duration: 0 ms\tMemory Size: ${memoryMb} MB\tMax Memory Used: 0 MB\tStatus: error\tError Type: ${doc.errorType}`);
      return { requestId, version: v.version, payload: Buffer.from(JSON.stringify(doc)), functionError: "Unhandled", durationMs: 0 };
    }
    const address = "socket" in lease.endpoint ? lease.endpoint.socket : lease.endpoint.host;
    const channel = this.deps.runtimeApi.channel(address);
    const first = channel.invocations === 0;
    const restoreDurationMs = first ? lease.restoreMs : undefined;
    const initDurationMs = first && restoreDurationMs === undefined && channel.initializedAt !== undefined ? channel.initializedAt - channel.createdAt : undefined;
    this.log(v, lease.instanceId, `START RequestId: ${requestId} Version: ${v.version}`);
    const started = performance.now();
    const deadlineMs = Date.now() + timeoutS * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutS * 1000)));
    let outcome: InvocationResult | "timeout" | Error;
    try {
      outcome = await Promise.race([
        channel.invoke({
          requestId,
          payload,
          deadlineMs,
          functionArn: functionArn(v.app),
          traceId: traceHeader(),
          ...(opts.clientContext !== undefined && { clientContext: opts.clientContext }),
        }),
        timedOut,
      ]);
    } catch (err) {
      outcome = err as Error;
    } finally {
      clearTimeout(timer);
    }
    const durationMs = performance.now() - started;
    let functionError: FunctionErrorKind | undefined;
    let body: Buffer;
    let errorType: string | undefined;
    if (outcome === "timeout") {
      channel.abandon(requestId);
      lease.retire(`invocation ${requestId} timed out after ${timeoutS} s`);
      this.log(v, lease.instanceId, `${new Date().toISOString()} ${requestId} Task timed out after ${timeoutS.toFixed(2)} seconds`);
      functionError = "Unhandled";
      errorType = "Sandbox.Timedout";
      body = Buffer.from(JSON.stringify({ errorType, errorMessage: `RequestId: ${requestId} Error: Task timed out after ${timeoutS.toFixed(2)} seconds` }));
    } else if (outcome instanceof Error) {
      // The environment ended mid-invocation (the runtime exited, was OOM-killed, or the daemon stops).
      lease.retire(`its runtime ended during invocation ${requestId}`);
      functionError = "Unhandled";
      errorType = "Runtime.ExitError";
      body = Buffer.from(JSON.stringify({ errorType, errorMessage: `RequestId: ${requestId} Error: Runtime exited before it answered (${outcome.message})` }));
    } else if (outcome.kind === "error") {
      lease.release();
      const doc = errorDocumentOf(outcome.body, outcome.errorType);
      functionError = "Handled";
      errorType = doc.errorType;
      body = Buffer.from(JSON.stringify(doc));
    } else {
      lease.release();
      body = outcome.body;
    }
    this.log(v, lease.instanceId, `END RequestId: ${requestId}`);
    // REPORT follows once the instance's next health-check sample gives its memory peak (within a second).
    const coldStart = restoreDurationMs !== undefined ? `Restore Duration: ${restoreDurationMs.toFixed(2)} ms` : initDurationMs !== undefined ? `Init Duration: ${initDurationMs.toFixed(2)} ms` : undefined;
    this.report(v, lease.instanceId, requestId, durationMs, memoryMb, coldStart, errorType).catch((err: unknown) =>
      this.log(v, lease.instanceId, `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\t(memory unknown: ${(err as Error).message})`),
    );
    return {
      requestId, version: v.version, payload: body, ...(functionError && { functionError }), durationMs,
      ...(initDurationMs !== undefined && { initDurationMs }), ...(restoreDurationMs !== undefined && { restoreDurationMs }),
    };
  }

  /**
   * REPORT as Lambda writes it: duration, billed duration (the duration in whole ms, rounded up), memory
   * size, peak memory, and on a cold start `Init Duration`, or `Restore Duration` after a snapshot restore.
   */
  private async report(v: VersionRecord, instanceId: string, requestId: string, durationMs: number, memoryMb: number, coldStart: string | undefined, errorType: string | undefined): Promise<void> {
    const peak = await this.deps.peakMemoryOf(v.app, instanceId, Date.now());
    const fields = [
      `REPORT RequestId: ${requestId}`,
      `Duration: ${durationMs.toFixed(2)} ms`,
      `Billed Duration: ${Math.ceil(durationMs)} ms`,
      `Memory Size: ${memoryMb} MB`,
      `Max Memory Used: ${peak === undefined ? "unknown" : `${Math.ceil(peak / 1048576)} MB`}`,
      ...(coldStart !== undefined ? [coldStart] : []),
      ...(errorType ? ["Status: error", `Error Type: ${errorType}`] : []),
    ];
    this.log(v, instanceId, fields.join("\t"));
  }

  private log(v: VersionRecord, instance: string, line: string): void {
    this.deps.logs.append({ kind: "app", time: new Date().toISOString(), app: v.app, version: v.version, instance, stream: "stdout", line });
  }
}

/** An X-Ray trace header of the documented form (Root=1-<8 hex time>-<24 hex>;Parent=<16 hex>;Sampled=0). */
function traceHeader(): string {
  const time = Math.floor(Date.now() / 1000).toString(16).padStart(8, "0");
  return `Root=1-${time}-${randomBytes(12).toString("hex")};Parent=${randomBytes(8).toString("hex")};Sampled=0`;
}
