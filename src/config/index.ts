/**
 * config/: app.yaml and Procfile, parsed and validated into typed specs. Knows about nothing else in
 * Strata; every problem is a StrataError with code INVALID_CONFIG naming the file, line and field.
 */
export { parseAppYaml, type ParsedAppYaml } from "./app-yaml.js";
export {
  AppYamlSchema,
  handlerUrlRegExp,
  INBOUND_SERVICES,
  MAX_HANDLERS,
  type AppYaml,
  type Handler,
} from "./app-yaml-schema.js";
export { DRIVER_NAMES, isDriverName, type DriverName } from "./driver-names.js";
export { IGNORED_APP_ENGINE_KEYS } from "./app-yaml-ignored.js";
export type { ConfigIssue, ConfigWarning } from "./config-issue.js";
export { DURATION_FORMAT, EXPIRATION_FORMAT, expirationSeconds, parseDuration } from "./duration.js";
export {
  defaultInstanceClass,
  INSTANCE_CLASSES,
  limitsForClass,
  type InstanceClass,
  type ResourceLimits,
  type ScalingKind,
} from "./instance-class.js";
export { parseProcfile } from "./procfile.js";
export { RUNTIMES, runtimeLanguage, type RuntimeInfo, type RuntimeLanguage } from "./runtimes.js";
export { normalizeScaling, STRATA_DEFAULT_MAX_INSTANCES, type ScalingPolicy } from "./scaling.js";
export { scalingKindOf } from "./scaling-problems.js";
export { readStoredSpec, storedSpec, STORED_SPEC_VERSION } from "./stored-spec.js";
export {
  FUNCTION_ACCOUNT,
  FUNCTION_REGION,
  FUNCTION_RUNTIMES,
  FunctionYamlSchema,
  functionArn,
  functionEnv,
  lambdaLimits,
  functionOf,
  functionVersionSpec,
  parseFunctionYaml,
  type FunctionFamily,
  type FunctionRuntime,
  type FunctionVersionSpec,
  type FunctionYaml,
} from "./function-yaml.js";
export { readPlatformConfig } from "./platform-config.js";
export { readWranglerConfig, WRANGLER_FILES, type WranglerConfig, type KvNamespaceBinding } from "./wrangler-config.js";
