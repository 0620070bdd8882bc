import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAppYaml } from "../../../src/config/index.js";

describe("app.yaml vm:", () => {
  it("reads vcpus, memory_mb and machine; each may be left out", () => {
    assert.deepEqual(parseAppYaml("runtime: rust185\nsandbox: vm\nvm:\n  vcpus: 2\n  memory_mb: 1024\n  machine: pc\n  data_disk_mb: 256\n").spec.vm, { vcpus: 2, memory_mb: 1024, machine: "pc", data_disk_mb: 256 });
    assert.deepEqual(parseAppYaml("runtime: rust185\nvm:\n  machine: q35\n").spec.vm, { machine: "q35" });
    assert.equal(parseAppYaml("runtime: rust185\n").spec.vm, undefined);
  });

  it("refuses what no machine can be, with the key's line and what is allowed", () => {
    assert.throws(() => parseAppYaml("runtime: rust185\nvm:\n  machine: microvm\n"), /app\.yaml:3:12: vm\.machine: expected one of q35, pc/);
    assert.throws(() => parseAppYaml("runtime: rust185\nvm:\n  vcpus: 0\n"), /app\.yaml:3:10: vm\.vcpus: must be at least 1, got 0/);
    assert.throws(() => parseAppYaml("runtime: rust185\nvm:\n  vcpus: 1.5\n"), /vm\.vcpus: expected a whole number of virtual CPUs, 1 to 64/);
    assert.throws(() => parseAppYaml("runtime: rust185\nvm:\n  memory_mb: 64\n"), /app\.yaml:3:14: vm\.memory_mb: must be at least 128, got 64/);
    assert.throws(() => parseAppYaml("runtime: rust185\nvm:\n  data_disk_mb: 8\n"), /vm\.data_disk_mb: must be at least 16, got 8/);
    assert.throws(() => parseAppYaml("runtime: rust185\nvm:\n  cpus: 2\n"), /vm\.cpus: not an app\.yaml key; did you mean `vcpus`\?/);
  });

  it("refuses App Engine flexible's vm: true, and vm: with another sandbox", () => {
    assert.throws(() => parseAppYaml("runtime: rust185\nvm: true\n"), /app\.yaml:2:5: vm: expected a mapping with vcpus, memory_mb, machine \(q35 or pc\) and data_disk_mb, for sandbox: vm, got a boolean/);
    assert.throws(() => parseAppYaml("runtime: rust185\nsandbox: runc\nvm:\n  vcpus: 2\n"), /only read by sandbox: vm \(this app asks for sandbox: runc\)/);
  });
});
