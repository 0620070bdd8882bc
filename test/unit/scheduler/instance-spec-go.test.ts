import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { availableParallelism } from "node:os";
import { goMaxProcs, parseAppYaml, storedSpec } from "../../../src/config/index.js";
import { instanceSpecOf, policyOf } from "../../../src/scheduler/instance-spec.js";
import type { VersionRecord } from "../../../src/store/types.js";

const version = (runtime: string, yaml: string): VersionRecord => ({
  app: "gopher", version: "v1", status: "ready", runtime, driver: "gvisor",
  artifact: { kind: "oci", digest: "sha256:ab", path: "/layout", ref: "apps/gopher:v1" },
  spec: storedSpec(parseAppYaml(yaml).spec), sourceDigest: "sha256:cd", sizeBytes: 1, createdAt: "2026-12-06T00:00:00Z",
});

describe("GOMAXPROCS for Go apps", () => {
  it("is the whole CPUs of the quota, at least 1 and at most the host's", () => {
    assert.equal(goMaxProcs({ memoryMb: 384, cpuMillis: 600, pids: 256 }, 2), 1); // F1
    assert.equal(goMaxProcs({ memoryMb: 768, cpuMillis: 1200, pids: 256 }, 2), 1); // F2
    assert.equal(goMaxProcs({ memoryMb: 1536, cpuMillis: 2400, pids: 256 }, 8), 2); // F4
    assert.equal(goMaxProcs({ memoryMb: 3072, cpuMillis: 4800, pids: 256 }, 2), 2); // B8 on a 2-core host
  });

  it("is set for a Go runtime's instance from its class, unless app.yaml sets its own", () => {
    const f4 = version("go122", "runtime: go122\ninstance_class: F4\n");
    assert.equal(instanceSpecOf(f4, "i1", policyOf(f4)).env.GOMAXPROCS, String(Math.min(2, availableParallelism()))); // 2.4 CPUs
    const f1 = version("go122", "runtime: go122\n");
    assert.equal(instanceSpecOf(f1, "i1", policyOf(f1)).env.GOMAXPROCS, "1");
    const own = version("go122", "runtime: go122\nenv_variables:\n  GOMAXPROCS: \"3\"\n");
    assert.equal(instanceSpecOf(own, "i1", policyOf(own)).env.GOMAXPROCS, "3");
  });

  it("is left to the app in other runtimes", () => {
    const py = version("python312", "runtime: python312\n");
    assert.equal(instanceSpecOf(py, "i1", policyOf(py)).env.GOMAXPROCS, undefined);
  });
});
