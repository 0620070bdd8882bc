import { randomBytes } from "node:crypto";
import { functionEnv, functionOf, lambdaLimits, limitsForClass, normalizeScaling, readStoredSpec, type AppYaml, type ScalingPolicy } from "../config/index.js";
import type { ImageRef, InstanceSpec } from "../sandbox/index.js";
import { StrataError } from "../errors.js";
import type { VersionRecord } from "../store/index.js";

/** The port apps listen on inside their sandbox, as App Engine and Cloud Run set it. */
export const APP_PORT = 8080;

/** Short, DNS- and interface-name-safe: drivers name netns, veth and cgroups after it. */
export function newInstanceId(): string {
  return "i" + randomBytes(6).toString("hex");
}

/**
 * The version's app.yaml, re-read through today's schema; a version deployed without one behaves as an
 * app.yaml that names only its runtime (every other key at its default).
 */
export function appYamlOf(v: VersionRecord): AppYaml {
  return readStoredSpec(v.spec, `${v.app}/${v.version}`) ?? { runtime: v.runtime };
}

export function policyOf(v: VersionRecord): ScalingPolicy {
  return normalizeScaling(appYamlOf(v));
}

export function imageOf(v: VersionRecord): ImageRef {
  const a = v.artifact;
  if (!a || a.kind === "static-tree") throw new StrataError("INTERNAL", `version ${v.app}/${v.version} has no runnable artifact`);
  return a.kind === "oci" ? { kind: "oci", digest: a.digest, path: a.path, ref: a.ref } : { kind: "isolate-bundle", digest: a.digest, path: a.path };
}

export function instanceSpecOf(v: VersionRecord, instanceId: string, policy: ScalingPolicy, runtimeApi?: string): InstanceSpec {
  const fn = functionOf(v.spec);
  if (fn) {
    // A function's instance listens on nothing: it asks the Runtime API for work (port is unused).
    if (!runtimeApi) throw new StrataError("INSTANCE_FAILED", "Lambda's Runtime API is not running in this daemon, so no function instance can start (see the daemon's log)");
    return { instanceId, app: v.app, version: v.version, port: APP_PORT, env: functionEnv(v.app, v.version, fn, instanceId, runtimeApi), limits: lambdaLimits(fn.memoryMb), runtimeApi };
  }
  const spec = appYamlOf(v);
  const limits = limitsForClass(policy.instanceClass);
  // An image that EXPOSEs one port is reached there (as Cloud Run does); everything else listens on PORT.
  const port = v.artifact?.kind === "oci" && v.artifact.port !== undefined ? v.artifact.port : APP_PORT;
  const env: Record<string, string> = {
    ...(spec.env_variables ?? {}),
    PORT: String(port),
    GAE_SERVICE: v.app,
    GAE_VERSION: v.version,
    GAE_INSTANCE: instanceId,
    GAE_RUNTIME: v.runtime,
    GAE_MEMORY_MB: String(limits.memoryMb),
    GAE_ENV: "standard",
  };
  const vm = spec.vm && {
    ...(spec.vm.vcpus !== undefined && { vcpus: spec.vm.vcpus }),
    ...(spec.vm.memory_mb !== undefined && { memoryMb: spec.vm.memory_mb }),
    ...(spec.vm.machine !== undefined && { machine: spec.vm.machine }),
    ...(spec.vm.data_disk_mb !== undefined && { dataDiskMb: spec.vm.data_disk_mb }),
  };
  return { instanceId, app: v.app, version: v.version, port, env, limits, ...(vm && { vm }) };
}
