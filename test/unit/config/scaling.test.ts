import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normalizeScaling, parseAppYaml, STRATA_DEFAULT_MAX_INSTANCES, type AppYaml } from "../../../src/config/index.js";
import { StrataError } from "../../../src/errors.js";

const policy = (yaml: string) => normalizeScaling(parseAppYaml(yaml).spec);

describe("normalizeScaling", () => {
  it("fills App Engine's automatic-scaling defaults when app.yaml sets none", () => {
    assert.deepEqual(policy("runtime: python312\n"), {
      kind: "automatic",
      instanceClass: "F1",
      minInstances: 0,
      maxInstances: STRATA_DEFAULT_MAX_INSTANCES,
      targetConcurrency: 10,
      targetCpuUtilization: 0.6,
      targetThroughputUtilization: 0.6,
      minIdleInstances: 0,
      maxIdleInstances: null,
      minPendingLatencyMs: null,
      maxPendingLatencyMs: null,
      idleTimeoutMs: 15 * 60_000,
      instances: null,
    });
    assert.equal(STRATA_DEFAULT_MAX_INSTANCES, 20);
  });

  it("takes every automatic_scaling setting", () => {
    const text = [
      "runtime: nodejs20",
      "instance_class: F4",
      "automatic_scaling:",
      "  min_instances: 2",
      "  max_instances: 9",
      "  max_concurrent_requests: 80",
      "  target_cpu_utilization: 0.8",
      "  target_throughput_utilization: 0.9",
      "  min_idle_instances: 1",
      "  max_idle_instances: 3",
      "  min_pending_latency: 30ms",
      "  max_pending_latency: 1.5s",
      "  idle_timeout: 2m",
      "",
    ].join("\n");
    assert.deepEqual(policy(text), {
      kind: "automatic",
      instanceClass: "F4",
      minInstances: 2,
      maxInstances: 9,
      targetConcurrency: 80,
      targetCpuUtilization: 0.8,
      targetThroughputUtilization: 0.9,
      minIdleInstances: 1,
      maxIdleInstances: 3,
      minPendingLatencyMs: 30,
      maxPendingLatencyMs: 1500,
      idleTimeoutMs: 120_000,
      instances: null,
    });
  });

  it('reads "automatic" idle instances and latencies as "no setting"', () => {
    const p = policy(
      "runtime: go\nautomatic_scaling:\n  min_idle_instances: automatic\n  max_idle_instances: automatic\n  min_pending_latency: automatic\n  max_pending_latency: automatic\n",
    );
    assert.equal(p.minIdleInstances, 0);
    assert.equal(p.maxIdleInstances, null);
    assert.equal(p.minPendingLatencyMs, null);
    assert.equal(p.maxPendingLatencyMs, null);
  });

  it("treats max_instances 0 as not set, and raises the default max to min_instances", () => {
    assert.equal(policy("runtime: go\nautomatic_scaling:\n  max_instances: 0\n").maxInstances, 20);
    const p = policy("runtime: go\nautomatic_scaling:\n  min_instances: 30\n");
    assert.equal(p.minInstances, 30);
    assert.equal(p.maxInstances, 30);
  });

  it("fills basic-scaling defaults: B2, idle timeout 5 minutes", () => {
    assert.deepEqual(policy("runtime: java17\nbasic_scaling:\n  max_instances: 4\n"), {
      kind: "basic",
      instanceClass: "B2",
      minInstances: 0,
      maxInstances: 4,
      targetConcurrency: 10,
      targetCpuUtilization: 0.6,
      targetThroughputUtilization: 0.6,
      minIdleInstances: 0,
      maxIdleInstances: null,
      minPendingLatencyMs: null,
      maxPendingLatencyMs: null,
      idleTimeoutMs: 5 * 60_000,
      instances: null,
    });
    const custom = policy("runtime: java17\ninstance_class: B8\nbasic_scaling:\n  max_instances: 1\n  idle_timeout: 30s\n");
    assert.equal(custom.idleTimeoutMs, 30_000);
    assert.equal(custom.instanceClass, "B8");
  });

  it("runs a fixed number of instances that never idle out with manual scaling", () => {
    const p = policy("runtime: ruby33\nmanual_scaling:\n  instances: 3\n");
    assert.equal(p.kind, "manual");
    assert.equal(p.instanceClass, "B2");
    assert.equal(p.instances, 3);
    assert.equal(p.minInstances, 3);
    assert.equal(p.maxInstances, 3);
    assert.equal(p.idleTimeoutMs, null);
  });

  it("validates a spec built in code, with INVALID_CONFIG errors naming the field", () => {
    const cases: [AppYaml, RegExp][] = [
      [{ runtime: "go", automatic_scaling: { min_instances: 5, max_instances: 2 } }, /^automatic_scaling\.min_instances: 5 is greater than max_instances \(2\)$/],
      [{ runtime: "go", automatic_scaling: { min_idle_instances: 4, max_idle_instances: 1 } }, /min_idle_instances: 4 is greater/],
      [{ runtime: "go", automatic_scaling: { min_pending_latency: "1s", max_pending_latency: "10ms" } }, /min_pending_latency: 1s is greater/],
      [{ runtime: "go", automatic_scaling: { idle_timeout: "0s" } }, /automatic_scaling\.idle_timeout: must be more than 0/],
      [{ runtime: "go", basic_scaling: { max_instances: 1 }, manual_scaling: { instances: 1 } }, /^manual_scaling: only one of/],
      [{ runtime: "go", instance_class: "F1", manual_scaling: { instances: 1 } }, /^instance_class: F1 is not available with manual scaling/],
    ];
    for (const [spec, pattern] of cases) {
      assert.throws(
        () => normalizeScaling(spec),
        (err: unknown) => err instanceof StrataError && err.code === "INVALID_CONFIG" && pattern.test(err.message),
        String(pattern),
      );
    }
  });
});
