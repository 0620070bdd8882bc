import { randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { asStrataError } from "../errors.js";
import type { NewEvent, VersionRecord } from "../store/index.js";
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
  /** Where waiting events are kept, one file each, until they have run (StrataHome.asyncQueue). */
  queueDir: string;
  /** Pause before each retry (Lambda: two retries, one and two minutes apart). */
  retryDelaysMs?: readonly number[];
}

/** A waiting event as its file keeps it: enough to run it again after a restart. */
const QueuedEvent = z.object({
  requestId: z.string().uuid(),
  app: z.string(),
  version: z.string(),
  payload: z.string(), // base64
  retries: z.number().int().min(0),
});
type QueuedEvent = z.infer<typeof QueuedEvent>;

/**
 * Lambda's asynchronous invocation (InvocationType Event): the caller gets 202 and a request id at once;
 * the event waits in the function's queue, runs, and on a function error is retried twice, then recorded
 * as failed (`function.async-failed`, with the error document) or succeeded. A throttle (429) is not an
 * attempt: the event waits and runs when there is room. Each waiting event is a file, written before the
 * 202 and removed once it is recorded, so events still waiting when the daemon stops run after it starts
 * again (resume()), with the retries they had left.
 */
export class AsyncInvoker {
  private readonly queued = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly delays: readonly number[];
  private closed = false;

  constructor(private readonly opts: AsyncInvokerOptions) {
    this.delays = opts.retryDelaysMs ?? LAMBDA_RETRY_DELAYS_MS;
  }

  private fileOf(requestId: string): string {
    return join(this.opts.queueDir, `${requestId}.json`);
  }

  /** Written whole then renamed, so a crash mid-write leaves the old file or none, never half of one. */
  private keep(e: QueuedEvent): void {
    mkdirSync(this.opts.queueDir, { recursive: true });
    const tmp = `${this.fileOf(e.requestId)}.tmp`;
    writeFileSync(tmp, JSON.stringify(e));
    renameSync(tmp, this.fileOf(e.requestId));
  }

  /**
   * Schedules the events a previous daemon left waiting (call once the store is readable). An event whose
   * function version is gone is recorded as failed; an unreadable file is set aside as `.bad`, said so.
   */
  resume(versionOf: (app: string, version: string) => VersionRecord | undefined): number {
    let files: string[];
    try {
      files = readdirSync(this.opts.queueDir).filter((f) => f.endsWith(".json"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw err;
    }
    let resumed = 0;
    for (const f of files) {
      const path = join(this.opts.queueDir, f);
      const setAside = (why: string): void => {
        renameSync(path, `${path}.bad`);
        this.opts.events.addEvent({ type: "function.async-failed", message: `a queued asynchronous invocation (${f}) could not be read and was set aside as ${f}.bad: ${why}` });
      };
      let parsed: ReturnType<typeof QueuedEvent.safeParse>;
      try {
        parsed = QueuedEvent.safeParse(JSON.parse(readFileSync(path, "utf8")));
      } catch (err) {
        setAside((err as Error).message);
        continue;
      }
      if (!parsed.success) {
        setAside(parsed.error.issues[0]?.message ?? "not a queued event");
        continue;
      }
      const e = parsed.data;
      const v = versionOf(e.app, e.version);
      this.queued.set(e.app, (this.queued.get(e.app) ?? 0) + 1);
      if (!v) {
        this.finish(e.app, e.requestId, { type: "function.async-failed", app: e.app, version: e.version, message: `asynchronous invocation ${e.requestId} could not run: version ${e.version} of ${e.app} no longer exists`, data: { requestId: e.requestId, attempts: e.retries } });
        continue;
      }
      this.later(0, () => this.attempt(v, Buffer.from(e.payload, "base64"), e.requestId, e.retries));
      resumed++;
    }
    return resumed;
  }

  enqueue(v: VersionRecord, payload: Buffer): string {
    if (payload.length > MAX_ASYNC_PAYLOAD_BYTES) {
      throw new InvokeRefused(413, "RequestTooLargeException", `Request must be smaller than ${MAX_ASYNC_PAYLOAD_BYTES} bytes for an asynchronous invocation`);
    }
    const n = this.queued.get(v.app) ?? 0;
    if (n >= MAX_QUEUED) throw new InvokeRefused(429, "TooManyRequestsException", `${MAX_QUEUED} events already wait for ${v.app}`);
    const requestId = randomUUID();
    this.keep({ requestId, app: v.app, version: v.version, payload: payload.toString("base64"), retries: 0 });
    this.queued.set(v.app, n + 1);
    this.later(0, () => this.attempt(v, payload, requestId, 0));
    return requestId;
  }

  /** Stops running events; returns how many were still waiting (their files stay, for resume()). */
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
      if (!r.functionError) return this.finish(v.app, requestId, { type: "function.async-succeeded", app: v.app, version: v.version, message: `asynchronous invocation ${requestId} succeeded${retries ? ` on retry ${retries}` : ""}`, data: { requestId, attempts: retries + 1 } });
      if (retries < this.delays.length) {
        this.keep({ requestId, app: v.app, version: v.version, payload: payload.toString("base64"), retries: retries + 1 });
        return this.later(this.delays[retries]!, () => this.attempt(v, payload, requestId, retries + 1));
      }
      const error = JSON.parse(r.payload.toString("utf8")) as unknown;
      this.finish(v.app, requestId, { type: "function.async-failed", app: v.app, version: v.version, message: `asynchronous invocation ${requestId} failed after ${retries + 1} attempts (${r.functionError})`, data: { requestId, attempts: retries + 1, error } });
    } catch (err) {
      if (err instanceof InvokeRefused && err.status === 429) return this.later(1000, () => this.attempt(v, payload, requestId, retries));
      this.finish(v.app, requestId, { type: "function.async-failed", app: v.app, version: v.version, message: `asynchronous invocation ${requestId} could not run: ${asStrataError(err).message}`, data: { requestId, attempts: retries + 1 } });
    }
  }

  private finish(app: string, requestId: string, event: NewEvent): void {
    const n = (this.queued.get(app) ?? 1) - 1;
    if (n > 0) this.queued.set(app, n);
    else this.queued.delete(app);
    this.opts.events.addEvent(event);
    rmSync(this.fileOf(requestId), { force: true }); // recorded: it is done
  }
}
