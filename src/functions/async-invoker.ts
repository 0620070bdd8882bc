import { randomUUID } from "node:crypto";
import { asStrataError } from "../errors.js";
import type { VersionRecord } from "../store/types.js";
import type { NewEvent } from "../store/types.js";
import { InvokeRefused } from "./errors.js";
import type { Invoker } from "./invoker.js";

/** Lambda's asynchronous payload limit: 256 KB. */
export const MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024;
/** Lambda retries a failed asynchronous invocation twice, about one and then two minutes later. */
export const LAMBDA_RETRY_DELAYS_MS: readonly number[] = [60_000, 120_000];
/** Events waiting per function before new ones are refused (Lambda's queue is larger; this host is one machine). */
const MAX_QUEUED = 1000;

export interface AsyncInvokerOptions {
  invoker: Pick<Invoker, "invoke">;
  events: { addEvent(e: NewEvent): void };
  /** Pause before each retry (Lambda: two retries, one and two minutes apart). */
  retryDelaysMs?: readonly number[];
}

/**
 * Lambda's asynchronous invocation (InvocationType Event): the caller gets 202 and a request id at once;
 * the event waits in the function's queue, runs, and on a function error is retried twice, then recorded
 * as failed (`function.async-failed`, with the error document) or succeeded. A throttle (429) is not an
 * attempt: the event waits and runs when there is room. The queue lives in the daemon's memory: events
 * still queued when it stops are lost, and the stop says how many.
 */
export class AsyncInvoker {
  private readonly queued = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly delays: readonly number[];
  private closed = false;

  constructor(private readonly opts: AsyncInvokerOptions) {
    this.delays = opts.retryDelaysMs ?? LAMBDA_RETRY_DELAYS_MS;
  }

  enqueue(v: VersionRecord, payload: Buffer): string {
    if (payload.length > MAX_ASYNC_PAYLOAD_BYTES) {
      throw new InvokeRefused(413, "RequestTooLargeException", `Request must be smaller than ${MAX_ASYNC_PAYLOAD_BYTES} bytes for an asynchronous invocation`);
    }
    const n = this.queued.get(v.app) ?? 0;
    if (n >= MAX_QUEUED) throw new InvokeRefused(429, "TooManyRequestsException", `${MAX_QUEUED} events already wait for ${v.app}`);
    this.queued.set(v.app, n + 1);
    const requestId = randomUUID();
    this.later(0, () => this.attempt(v, payload, requestId, 0));
    return requestId;
  }

  /** Stops retrying; returns how many events were still waiting. */
  close(): number {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    return [...this.queued.values()].reduce((a, b) => a + b, 0);
  }

  private later(ms: number, run: () => Promise<void>): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      void run();
    }, ms);
    this.timers.add(t);
  }

  private async attempt(v: VersionRecord, payload: Buffer, requestId: string, retries: number): Promise<void> {
    // Each attempt has its own request id in the logs, as Lambda's retries do; the event keeps the first.
    const attemptId = retries === 0 ? requestId : randomUUID();
    try {
      const r = await this.opts.invoker.invoke(v, payload, { requestId: attemptId });
      if (!r.functionError) return this.finish(v, { type: "function.async-succeeded", app: v.app, version: v.version, message: `asynchronous invocation ${requestId} succeeded${retries ? ` on retry ${retries}` : ""}`, data: { requestId, attempts: retries + 1 } });
      if (retries < this.delays.length) return this.later(this.delays[retries]!, () => this.attempt(v, payload, requestId, retries + 1));
      const error = JSON.parse(r.payload.toString("utf8")) as unknown;
      this.finish(v, { type: "function.async-failed", app: v.app, version: v.version, message: `asynchronous invocation ${requestId} failed after ${retries + 1} attempts (${r.functionError})`, data: { requestId, attempts: retries + 1, error } });
    } catch (err) {
      if (err instanceof InvokeRefused && err.status === 429) return this.later(1000, () => this.attempt(v, payload, requestId, retries));
      this.finish(v, { type: "function.async-failed", app: v.app, version: v.version, message: `asynchronous invocation ${requestId} could not run: ${asStrataError(err).message}`, data: { requestId, attempts: retries + 1 } });
    }
  }

  private finish(v: VersionRecord, event: NewEvent): void {
    const n = (this.queued.get(v.app) ?? 1) - 1;
    if (n > 0) this.queued.set(v.app, n);
    else this.queued.delete(v.app);
    this.opts.events.addEvent(event);
  }
}
