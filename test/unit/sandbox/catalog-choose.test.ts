import assert from "node:assert/strict";
import { test } from "node:test";
import { DriverCatalog } from "../../../src/sandbox/catalog.js";
import type { DriverName, Probe, SandboxDriver } from "../../../src/sandbox/driver.js";

// choose() reads only a driver's name and probe; KVM is absent on every host here, so the accelerated
// case can only be shown with drivers that say what a KVM host's probe says.
function catalogOf(probes: Partial<Record<DriverName, Probe>>): DriverCatalog {
  const drivers = Object.entries(probes).map(([name, probe]) => ({ name, probe: async () => probe }) as unknown as SandboxDriver);
  return new DriverCatalog({ drivers, sweepShared: async () => {}, closeShared: async () => {}, offerHostService: async () => "127.0.0.1" });
}

const runc: Probe = { available: true };

test("functions and Java go to their VM-class driver first only where it runs on KVM", async () => {
  const tcg = catalogOf({ runc, microvm: { available: true, accelerated: false }, kata: { available: true, accelerated: false } });
  assert.equal((await tcg.choose("function", undefined)).name, "runc");
  assert.equal((await tcg.choose("java", undefined)).name, "runc");

  const kvm = catalogOf({ runc, microvm: { available: true, accelerated: true }, kata: { available: true, accelerated: true } });
  assert.equal((await kvm.choose("function", undefined)).name, "microvm");
  assert.equal((await kvm.choose("java", undefined)).name, "kata");
  assert.equal((await kvm.choose("python", undefined)).name, "runc", "other languages keep their defaults");
});

test("an accelerated driver whose probe fails is passed over, and app.yaml's sandbox still wins", async () => {
  const broken = catalogOf({ runc, microvm: { available: false, accelerated: true, reason: "no guest kernel" } });
  assert.equal((await broken.choose("function", undefined)).name, "runc");
  const kvm = catalogOf({ runc, microvm: { available: true, accelerated: true } });
  assert.equal((await kvm.choose("function", "runc")).name, "runc");
});
