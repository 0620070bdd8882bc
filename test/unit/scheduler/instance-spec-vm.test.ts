import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAppYaml, storedSpec } from "../../../src/config/index.js";
import { instanceSpecOf, policyOf } from "../../../src/scheduler/instance-spec.js";
import type { VersionRecord } from "../../../src/store/types.js";

const version = (yaml: string): VersionRecord => ({
  app: "rusty", version: "v1", status: "ready", runtime: "rust185", driver: "vm",
  artifact: { kind: "oci", digest: "sha256:ab", path: "/layout", ref: "apps/rusty:v1" },
  spec: storedSpec(parseAppYaml(yaml).spec), sourceDigest: "sha256:cd", sizeBytes: 1, createdAt: "2026-12-05T00:00:00Z",
});

describe("instanceSpecOf and app.yaml vm:", () => {
  it("hands the machine app.yaml asks for to the driver, in the driver's terms", () => {
    const v = version("runtime: rust185\nsandbox: vm\nvm:\n  vcpus: 2\n  memory_mb: 512\n  machine: pc\n  data_disk_mb: 64\n");
    assert.deepEqual(instanceSpecOf(v, "i1", policyOf(v)).vm, { vcpus: 2, memoryMb: 512, machine: "pc", dataDiskMb: 64 });
  });

  it("says nothing of a machine when app.yaml does not", () => {
    const v = version("runtime: rust185\n");
    assert.equal(instanceSpecOf(v, "i1", policyOf(v)).vm, undefined);
    const partial = version("runtime: rust185\nvm:\n  vcpus: 4\n");
    assert.deepEqual(instanceSpecOf(partial, "i1", policyOf(partial)).vm, { vcpus: 4 });
  });
});
