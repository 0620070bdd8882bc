/**
 * function.yaml: a hosted function as Lambda configures one (runtime, handler, memory, timeout,
 * environment, reserved concurrency), validated into a typed spec. Lambda's own limits apply: memory
 * 128–10240 MB, timeout 1–900 s (default 3 s, memory default 128 MB).
 */
import { z } from "zod";
import { configError } from "./config-issue.js";
import { DRIVER_NAMES, type DriverName } from "./driver-names.js";
import { DURATION_FORMAT, durationProblem } from "./duration.js";
import { issueLocator, readYamlMapping } from "./yaml-source.js";
import { findingFromZodIssue } from "./zod-issues.js";

/** Lambda's runtime ids, with Strata's short forms (`nodejs20` for `nodejs20.x`). */
export const FUNCTION_RUNTIMES = {
  "nodejs20.x": { family: "nodejs", image: "nodejs20", aws: "nodejs20.x" },
  nodejs20: { family: "nodejs", image: "nodejs20", aws: "nodejs20.x" },
  "nodejs22.x": { family: "nodejs", image: "nodejs22", aws: "nodejs22.x" },
  nodejs22: { family: "nodejs", image: "nodejs22", aws: "nodejs22.x" },
  "ruby3.3": { family: "ruby", image: "ruby33", aws: "ruby3.3" },
  provided: { family: "provided", image: "debian", aws: "provided" },
  "provided.al2023": { family: "provided", image: "debian", aws: "provided.al2023" },
} as const;
export type FunctionRuntime = keyof typeof FUNCTION_RUNTIMES;
export type FunctionFamily = (typeof FUNCTION_RUNTIMES)[FunctionRuntime]["family"];

const RUNTIME_IDS = Object.keys(FUNCTION_RUNTIMES) as [FunctionRuntime, ...FunctionRuntime[]];

/** Lambda's environment-variable names: letters, digits, underscore, starting with a letter. */
const ENV_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
/** Reserved by Lambda (the runtime's own variables); a function may not set them. */
const RESERVED_ENV = new Set([
  "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
  "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
]);

export const FunctionYamlSchema = z.strictObject({
  runtime: z.enum(RUNTIME_IDS),
  /** `file.export` for nodejs (`index.handler`), `file.method` for ruby; any text for provided (the bootstrap reads it). */
  handler: z.string().min(1).max(128),
  memory: z.number().int().min(128).max(10240).default(128),
  /** Seconds. */
  timeout: z.number().int().min(1).max(900).default(3),
  env: z
    .record(z.string().regex(ENV_NAME, "an environment variable name has letters, digits and _ and starts with a letter"), z.string())
    .refine((e) => Object.keys(e).every((k) => !RESERVED_ENV.has(k)), { message: `these names are Lambda's own and cannot be set: ${[...RESERVED_ENV].join(", ")}` })
    .default({}),
  /** Lambda's reserved concurrency: the most instances (and so invocations in flight) at once. */
  reserved_concurrency: z.number().int().min(1).max(100).default(10),
  /** How long an idle instance is kept for the next invocation (Lambda keeps them some minutes). */
  idle_timeout: z.string().refine((s) => durationProblem(s) === undefined, { message: `must be ${DURATION_FORMAT}` }).default("5m"),
  /** The sandbox instances run in; Strata chooses by default. */
  sandbox: z.enum(DRIVER_NAMES).optional(),
  description: z.string().max(256).optional(),
});
export type FunctionYaml = z.infer<typeof FunctionYamlSchema>;

/**
 * function.yaml (when the folder has one) with `overrides` (the deploy's flags) over it, validated as one.
 * With neither a file nor flags naming runtime and handler, the error says what is missing.
 */
export function parseFunctionYaml(text: string | undefined, file = "function.yaml", overrides: Record<string, unknown> = {}): FunctionYaml {
  const read = text === undefined ? undefined : readYamlMapping(text, file, Object.keys(overrides).length ? undefined : "the file is empty; it needs at least `runtime:` and `handler:`");
  const data = { ...(read?.data ?? {}), ...overrides };
  const parsed = FunctionYamlSchema.safeParse(data);
  if (!parsed.success) {
    if (!read) throw configError(parsed.error.issues.map((issue) => ({ file: "(flags)", line: 1, column: 1, ...findingOf(issue, data) })));
    const locate = issueLocator(read.source, file);
    throw configError(parsed.error.issues.map((issue) => locate(findingFromZodIssue(issue, FunctionYamlSchema, data))));
  }
  return parsed.data;
}

function findingOf(issue: z.core.$ZodIssue, data: unknown): { path: string; message: string } {
  const f = findingFromZodIssue(issue, FunctionYamlSchema, data);
  return { path: f.path.join("."), message: f.message };
}

/**
 * What a function version stores as its spec: the function's own settings under `function`, and the
 * scaling that gives Lambda's model to the scheduler (App Engine's words, Knative's meaning): one request
 * per instance (max_concurrent_requests 1, a concurrency target of 1), up to the reserved concurrency,
 * down to zero after the idle timeout.
 */
export interface FunctionVersionSpec {
  runtime: string;
  sandbox?: DriverName;
  automatic_scaling: { min_instances: 0; max_instances: number; max_concurrent_requests: 1; idle_timeout: string };
  function: {
    runtime: FunctionRuntime;
    family: FunctionFamily;
    awsRuntime: string;
    handler: string;
    memoryMb: number;
    timeoutS: number;
    env: Record<string, string>;
    reservedConcurrency: number;
  };
}

export function functionVersionSpec(f: FunctionYaml): FunctionVersionSpec {
  const rt = FUNCTION_RUNTIMES[f.runtime];
  return {
    runtime: f.runtime,
    ...(f.sandbox && { sandbox: f.sandbox }),
    automatic_scaling: { min_instances: 0, max_instances: f.reserved_concurrency, max_concurrent_requests: 1, idle_timeout: f.idle_timeout },
    function: {
      runtime: f.runtime,
      family: rt.family,
      awsRuntime: rt.aws,
      handler: f.handler,
      memoryMb: f.memory,
      timeoutS: f.timeout,
      env: f.env,
      reservedConcurrency: f.reserved_concurrency,
    },
  };
}

/** The function settings of a version's stored spec, or undefined for an app's version. */
export function functionOf(spec: Readonly<Record<string, unknown>>): FunctionVersionSpec["function"] | undefined {
  // A stored spec wraps it (config/stored-spec.ts: { v: 2, appYaml }); a spec being deployed does not.
  const inner = spec.v === 2 && spec.appYaml && typeof spec.appYaml === "object" ? (spec.appYaml as Record<string, unknown>) : spec;
  const f = inner.function;
  return f && typeof f === "object" ? (f as FunctionVersionSpec["function"]) : undefined;
}

/** Lambda's region and account stand-ins: Strata is one region of one account. */
export const FUNCTION_REGION = "local-1";
export const FUNCTION_ACCOUNT = "000000000000";

export function functionArn(name: string, qualifier?: string): string {
  return `arn:aws:lambda:${FUNCTION_REGION}:${FUNCTION_ACCOUNT}:function:${name}${qualifier ? `:${qualifier}` : ""}`;
}

/** The environment Lambda gives a function's runtime (its defined runtime environment variables) plus the function's own. */
export function functionEnv(name: string, version: string, fn: FunctionVersionSpec["function"], instanceId: string, runtimeApi: string): Record<string, string> {
  return {
    ...fn.env,
    _HANDLER: fn.handler,
    AWS_LAMBDA_RUNTIME_API: runtimeApi,
    LAMBDA_TASK_ROOT: "/var/task",
    LAMBDA_RUNTIME_DIR: "/opt/strata",
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.awsRuntime}`,
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_VERSION: version,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `${version}/${instanceId}`,
    AWS_REGION: FUNCTION_REGION,
    AWS_DEFAULT_REGION: FUNCTION_REGION,
    TZ: ":UTC",
  };
}

/**
 * A function's limits: its memory, and CPU in proportion to it as on Lambda (1,769 MB is one vCPU),
 * with a floor of a tenth of a core so a 128 MB function's runtime still boots in reasonable time.
 */
export function lambdaLimits(memoryMb: number): { memoryMb: number; cpuMillis: number; pids: number } {
  return { memoryMb, cpuMillis: Math.max(100, Math.round((memoryMb / 1769) * 1000)), pids: 256 };
}
