import { z } from "zod";

/**
 * The API's inputs and outputs, once: handlers validate with these, TypeScript types come from them,
 * and /v1/openapi.json is generated from them.
 */
export const AppName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "an app name is a DNS label: a-z, 0-9 and '-', at most 63 characters");
export const VersionName = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    "a version name is a DNS label: a-z, 0-9 and '-', at most 63 characters, not containing '-dot-'",
  )
  .refine((v) => !v.includes("-dot-"), "a version name may not contain '-dot-' (it separates version and app in URLs)");
export const SplitBy = z.enum(["random", "cookie", "ip"]);

export const DeployQuery = z.object({
  version: VersionName.optional(),
  promote: z.enum(["true", "false"]).default("true"),
});

export const TrafficSetBody = z.object({
  splits: z
    .record(VersionName, z.number().min(0).max(1))
    .refine((s) => Object.keys(s).length > 0, "give at least one version")
    .refine((s) => Math.abs(Object.values(s).reduce((a, b) => a + b, 0) - 1) < 1e-6, "the shares must add up to 1"),
  splitBy: SplitBy.default("random"),
});

export const TrafficMigrateBody = z.object({ version: VersionName });

export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});

export const AppOut = z.object({
  name: z.string(),
  createdAt: z.string(),
  url: z.string(),
  versions: z.number(),
  serving: z.record(z.string(), z.number()),
});
export type AppOut = z.infer<typeof AppOut>;

export const VersionOut = z.object({
  app: z.string(),
  version: z.string(),
  status: z.enum(["building", "ready", "failed", "deleted"]),
  runtime: z.string(),
  /** The language version the version runs, and why when it is not the one its runtime names. */
  runs: z.string().optional(),
  driver: z.string().optional(),
  traffic: z.number(),
  createdAt: z.string(),
  digest: z.string().optional(),
  sizeBytes: z.number(),
  url: z.string(),
  error: z.string().optional(),
});
export type VersionOut = z.infer<typeof VersionOut>;

export const TrafficOut = z.object({
  app: z.string(),
  splitBy: SplitBy,
  allocations: z.record(z.string(), z.number()),
  updatedAt: z.string().optional(),
});
export type TrafficOut = z.infer<typeof TrafficOut>;

export const EventOut = z.object({
  id: z.number(),
  time: z.string(),
  type: z.string(),
  app: z.string().optional(),
  version: z.string().optional(),
  message: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
});
export type EventOut = z.infer<typeof EventOut>;

export const ProbeOut = z.object({
  driver: z.string(),
  implemented: z.boolean(),
  available: z.boolean(),
  reason: z.string().optional(),
  install: z.array(z.string()).optional(),
  details: z.record(z.string(), z.string()).optional(),
  isolation: z.string(),
});
export type ProbeOut = z.infer<typeof ProbeOut>;

/** One line of a deploy's progress stream (NDJSON). */
export const DeployProgress = z.discriminatedUnion("type", [
  z.object({ type: z.literal("step"), message: z.string() }),
  z.object({ type: z.literal("log"), line: z.string() }),
  z.object({ type: z.literal("warning"), message: z.string() }),
  z.object({ type: z.literal("done"), version: VersionOut, urls: z.array(z.string()) }),
  z.object({ type: z.literal("error"), error: ErrorBody.shape.error }),
]);
export type DeployProgress = z.infer<typeof DeployProgress>;

export const InstanceOut = z.object({
  id: z.string(),
  version: z.string(),
  driver: z.string(),
  detail: z.string().optional(),
  state: z.string(),
  endpoint: z.string(),
  inflight: z.number(),
  cpuMs: z.number().optional(),
  memoryBytes: z.number().optional(),
  startedAt: z.number(),
});
export type InstanceOut = z.infer<typeof InstanceOut>;

/** The autoscaler's last decision for one version: how many instances it wants, in which mode, and why. */
export const ScalingOut = z.object({
  version: z.string(),
  current: z.number(),
  desired: z.number(),
  mode: z.string(),
  reason: z.string(),
});
export type ScalingOut = z.infer<typeof ScalingOut>;

/** `strata exec`: a command to run in one of an app's running instances. */
export const ExecIn = z.object({
  command: z.array(z.string()).min(1, "give the command to run"),
  instance: z.string().optional(),
});
export type ExecIn = z.infer<typeof ExecIn>;

/** One line of an exec's stream (NDJSON): the instance chosen, output chunks (base64, as the bytes came), the exit code. */
export const ExecProgress = z.discriminatedUnion("type", [
  z.object({ type: z.literal("instance"), id: z.string() }),
  z.object({ type: z.literal("stdout"), data: z.string() }),
  z.object({ type: z.literal("stderr"), data: z.string() }),
  z.object({ type: z.literal("exit"), code: z.number() }),
  z.object({ type: z.literal("error"), error: ErrorBody.shape.error }),
]);
export type ExecProgress = z.infer<typeof ExecProgress>;
