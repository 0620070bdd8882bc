import assert from "node:assert/strict";
import { test } from "node:test";
import { functionEnv, functionVersionSpec, lambdaLimits, parseFunctionYaml } from "../../../src/config/index.js";

test("function.yaml gets Lambda's defaults and becomes a one-request-per-instance scaling spec", () => {
  const f = parseFunctionYaml("runtime: nodejs20.x\nhandler: index.handler\n");
  assert.deepEqual([f.memory, f.timeout, f.reserved_concurrency, f.idle_timeout], [128, 3, 10, "5m"]);
  const spec = functionVersionSpec(f);
  assert.deepEqual(spec.automatic_scaling, { min_instances: 0, max_instances: 10, max_concurrent_requests: 1, idle_timeout: "5m" });
  assert.equal(spec.function.awsRuntime, "nodejs20.x");
  assert.equal(spec.function.family, "nodejs");
});

test("flags win over the file, and a file is optional when the flags say enough", () => {
  assert.equal(parseFunctionYaml("runtime: ruby3.3\nhandler: function.handler\ntimeout: 10\n", "function.yaml", { timeout: 20 }).timeout, 20);
  assert.equal(parseFunctionYaml(undefined, undefined, { runtime: "provided", handler: "bootstrap" }).runtime, "provided");
});

test("Lambda's limits and reserved names are refused with the line", () => {
  assert.throws(() => parseFunctionYaml("runtime: nodejs20.x\nhandler: i.h\nmemory: 64\n"), /function\.yaml:3:\d+.*memory/s);
  assert.throws(() => parseFunctionYaml("runtime: python3.12\nhandler: i.h\n"), /runtime: expected one of nodejs20.x/);
  assert.throws(() => parseFunctionYaml("runtime: nodejs20.x\nhandler: i.h\nenv:\n  AWS_REGION: x\n"), /Lambda's own/);
  assert.throws(() => parseFunctionYaml(undefined, undefined, {}), /runtime/);
});

test("the runtime's environment is Lambda's, and CPU follows memory as on Lambda", () => {
  const spec = functionVersionSpec(parseFunctionYaml("runtime: nodejs22\nhandler: index.handler\nmemory: 512\nenv:\n  K: v\n"));
  const env = functionEnv("fn", "v1", spec.function, "i0123456789ab", "10.0.0.1:9001");
  assert.equal(env._HANDLER, "index.handler");
  assert.equal(env.AWS_LAMBDA_RUNTIME_API, "10.0.0.1:9001");
  assert.equal(env.LAMBDA_TASK_ROOT, "/var/task");
  assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, "512");
  assert.equal(env.AWS_EXECUTION_ENV, "AWS_Lambda_nodejs22.x");
  assert.equal(env.K, "v");
  assert.deepEqual(lambdaLimits(1769), { memoryMb: 1769, cpuMillis: 1000, pids: 256 });
  assert.equal(lambdaLimits(128).cpuMillis, 100);
});
