/**
 * Messages between the isolate driver (in the daemon) and its engine process, over Node's IPC
 * channel. Requests carry an id; the engine answers each with a Reply of the same id. Events
 * (log lines, tenant resets) flow from the engine unasked.
 */
export interface TenantConfig {
  readonly instanceId: string;
  /** The app the instance belongs to: its instances share its Cache API store. */
  readonly app: string;
  readonly bundleDir: string;
  readonly socketPath: string;
  /** The worker's `env`: manifest vars overlaid with the instance env. */
  readonly env: Readonly<Record<string, unknown>>;
  readonly memoryMb: number;
  readonly cpuMsPerRequest: number;
  /** How long ctx.waitUntil work may go on after its response (Workers: 30 s). */
  readonly waitUntilMs: number;
  /** A request body past this many bytes is refused (413) or fails in the worker. */
  readonly maxRequestBodyBytes: number;
  /** wrangler kv_namespaces: each binding's name in env and the directory that keeps its namespace. */
  readonly kv: ReadonlyArray<{ readonly binding: string; readonly dir: string }>;
}

export type EngineRequest =
  | { readonly id: number; readonly op: "ping" }
  | { readonly id: number; readonly op: "start"; readonly tenant: TenantConfig }
  | { readonly id: number; readonly op: "stop"; readonly instanceId: string; readonly graceMs: number }
  | { readonly id: number; readonly op: "inspect"; readonly instanceId: string }
  | { readonly id: number; readonly op: "list" };

export interface TenantStats {
  readonly cpuMs: number;
  readonly memoryBytes: number;
}

export type EngineReply =
  | { readonly id: number; readonly ok: true; readonly result?: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

export type EngineEvent = {
  readonly event: "log";
  readonly instanceId: string;
  readonly stream: "stdout" | "stderr";
  readonly line: string;
};

export type EngineMessage = EngineReply | EngineEvent;
