/**
 * The app.yaml a version was deployed with, as the store keeps it, and read back through the app.yaml
 * schema (the store knows no config, so it keeps the JSON as it is given).
 *
 * By format version:
 * - 1: the parsed app.yaml itself, `{}` when the upload had none. Rows written before versions were
 *   recorded are version 1; they have no `v` (the app.yaml schema refuses a top-level `v`).
 * - 2: `{ v: 2, appYaml }`, `appYaml` null when the upload had none. Written now.
 * A later format adds its number here and its conversion, so an upgraded daemon reads what the previous
 * one stored; a number this daemon does not know (written by a newer one) is refused with what to do.
 */
import { z } from "zod";
import { StrataError } from "../errors.js";
import { AppYamlSchema, type AppYaml } from "./app-yaml-schema.js";
import { DRIVER_NAMES } from "./driver-names.js";

export const STORED_SPEC_VERSION = 2;

const StoredFunctionSpec = z.strictObject({
  runtime: z.string(),
  sandbox: z.enum(DRIVER_NAMES).optional(),
  automatic_scaling: z.strictObject({
    min_instances: z.literal(0),
    max_instances: z.int().min(1),
    max_concurrent_requests: z.literal(1),
    idle_timeout: z.string(),
  }),
  function: z.record(z.string(), z.unknown()),
});

const EnvelopeV2 = z.strictObject({ v: z.literal(2), appYaml: z.record(z.string(), z.unknown()).nullable() });

/** What the deployer stores for a version's app.yaml (absent: the upload had none). */
export function storedSpec(appYaml: AppYaml | undefined): Record<string, unknown> {
  return { v: STORED_SPEC_VERSION, appYaml: appYaml ?? null };
}

// Records are read often (each route-table rebuild, each instance start); a parse per stored object is enough.
const parsed = new WeakMap<object, AppYaml | undefined>();

/**
 * The app.yaml stored for version `where` ("app/version"), re-validated by today's schema; undefined when
 * the upload had none. Throws INVALID_CONFIG when the stored one no longer passes (redeploying says why).
 */
export function readStoredSpec(raw: Readonly<Record<string, unknown>>, where: string): AppYaml | undefined {
  if (parsed.has(raw)) return parsed.get(raw);
  const spec = parse(raw, where);
  parsed.set(raw, spec);
  return spec;
}

function parse(raw: Readonly<Record<string, unknown>>, where: string): AppYaml | undefined {
  if (!("v" in raw)) {
    if (Object.keys(raw).length === 0) return undefined;
    return check(AppYamlSchema.safeParse(raw), where);
  }
  if (raw.v !== STORED_SPEC_VERSION) {
    throw new StrataError(
      "INVALID_CONFIG",
      `version ${where} was stored by a newer Strata (app.yaml format ${JSON.stringify(raw.v)}; this one reads up to ${STORED_SPEC_VERSION}): upgrade Strata, or deploy the version again`,
    );
  }
  const { appYaml } = check(EnvelopeV2.safeParse(raw), where);
  if (appYaml === null) return undefined;
  // A function version keeps its function.yaml settings beside the scaling that gives Lambda's model
  // (config/function-yaml.ts); its runtime is Lambda's name, which app.yaml's runtimes do not list.
  if ("function" in appYaml) {
    const { runtime, sandbox, automatic_scaling } = check(StoredFunctionSpec.safeParse(appYaml), where);
    return { runtime, ...(sandbox && { sandbox }), automatic_scaling };
  }
  return check(AppYamlSchema.safeParse(appYaml), where);
}

function check<T>(result: z.ZodSafeParseResult<T>, where: string): T {
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
  throw new StrataError(
    "INVALID_CONFIG",
    `version ${where} was deployed with an app.yaml this Strata no longer accepts (${issues.join("; ")}): deploy it again with a corrected app.yaml`,
    { issues },
  );
}
