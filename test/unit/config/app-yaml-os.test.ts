import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normalizeScaling, parseAppYaml } from "../../../src/config/index.js";

describe("app.yaml runtime: os", () => {
  it("reads os.release, packages, cloud-init, files and port, with bookworm and empty lists by default", () => {
    const { spec } = parseAppYaml(
      "runtime: os\nos:\n  packages: [nginx-light]\n  cloud-init: cloud-init.yaml\n  files:\n    - source: index.html\n      destination: /srv/index.html\nport: 8080\n",
    );
    assert.deepEqual(spec.os, { release: "bookworm", packages: ["nginx-light"], "cloud-init": "cloud-init.yaml", files: [{ source: "index.html", destination: "/srv/index.html" }] });
    assert.equal(spec.port, 8080);
    assert.deepEqual(parseAppYaml("runtime: os\n").spec.os, undefined);
  });

  it("refuses a release Strata does not build, a relative destination, and os: under another runtime", () => {
    assert.throws(() => parseAppYaml("runtime: os\nos:\n  release: buster\n"), /os.release: expected one of bookworm, trixie/);
    assert.throws(() => parseAppYaml("runtime: os\nos:\n  files:\n    - source: a\n      destination: etc/a\n"), /absolute path/);
    assert.throws(() => parseAppYaml("runtime: python311\nos:\n  packages: [nginx]\n"), /only read with runtime: os/);
  });

  it("keeps one instance up by default (a machine, not a function), unless min_instances says otherwise", () => {
    assert.equal(normalizeScaling(parseAppYaml("runtime: os\n").spec).minInstances, 1);
    assert.equal(normalizeScaling(parseAppYaml("runtime: os\nautomatic_scaling:\n  min_instances: 0\n").spec).minInstances, 0);
    assert.equal(normalizeScaling(parseAppYaml("runtime: python311\n").spec).minInstances, 0);
  });
});
