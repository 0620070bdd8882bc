import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { HostNetwork } from "../../../src/net/index.js";
import type { Instance } from "../../../src/sandbox/driver.js";
import { XenDriver, Xl } from "../../../src/sandbox/xen/index.js";

// What the driver asks of xl, checked as argv: a stand-in `xl` records each call's arguments and answers
// `domid` and `list` in xl's documented output format. It checks the commands, not that Xen runs them
// (this host is no dom0); xen's conformance file runs the real thing on a dom0.
const dir = await mkdtemp(join(tmpdir(), "strata-xl-argv-"));
after(() => rm(dir, { recursive: true, force: true }));
const argvLog = join(dir, "argv");
const bin = join(dir, "bin");
await mkdir(bin);
await writeFile(
  join(bin, "xl"),
  `#!/bin/sh
for a in "$@"; do printf '%s\\t' "$a"; done >> "$XL_ARGV"; echo >> "$XL_ARGV"
case "$1" in
  domid) if [ -n "$XL_DOMID" ]; then echo "$XL_DOMID"; else echo "Invalid domain identifier: $2" >&2; exit 1; fi ;;
  list) printf 'Name                                        ID   Mem VCPUs\\tState\\tTime(s)\\nDomain-0                                     0  1024     2     r-----      12.0\\n%s  7   320     1     -b----       0.4\\n' "$XL_LISTED" ;;
esac
`,
);
await chmod(join(bin, "xl"), 0o755);
process.env.XL_ARGV = argvLog;
process.env.PATH = `${bin}:${process.env.PATH}`;

async function calls(): Promise<string[][]> {
  const text = await readFile(argvLog, "utf8");
  return text.split("\n").filter(Boolean).map((l) => l.replace(/\t$/, "").split("\t"));
}

beforeEach(async () => {
  await writeFile(argvLog, "");
  delete process.env.XL_DOMID;
  delete process.env.XL_LISTED;
});

describe("xl argv", () => {
  const xl = new Xl(join(bin, "xl"));

  it("creates paused from the config file, unpauses, shuts down and destroys by domain name", async () => {
    await xl.createPaused("/run/x/xl.cfg");
    await xl.unpause("strata-abc123-i0");
    await xl.shutdown("strata-abc123-i0");
    await xl.destroy("strata-abc123-i0");
    assert.deepEqual(await calls(), [
      ["create", "-p", "/run/x/xl.cfg"],
      ["unpause", "strata-abc123-i0"],
      ["shutdown", "strata-abc123-i0"],
      ["destroy", "strata-abc123-i0"],
    ]);
  });

  it("reads a domain's id, and none for a name xl does not know (exit 1)", async () => {
    process.env.XL_DOMID = "7";
    assert.equal(await xl.domid("strata-abc123-i0"), 7);
    delete process.env.XL_DOMID;
    assert.equal(await xl.domid("strata-abc123-i1"), undefined);
    assert.deepEqual(await calls(), [["domid", "strata-abc123-i0"], ["domid", "strata-abc123-i1"]]);
  });

  it("lists domain names from xl list's table", async () => {
    process.env.XL_LISTED = "strata-abc123-i0123456789ab";
    assert.deepEqual(await xl.names(), ["Domain-0", "strata-abc123-i0123456789ab"]);
  });
});

describe("xen driver's xl sequence", async () => {
  const home = new StrataHome(join(dir, "home"));
  const network = new HostNetwork(home, { bridge: "strataxn1", subnet: "10.233.49.0/24" });
  const procXen = join(dir, "proc-xen");
  await mkdir(procXen);
  await writeFile(join(procXen, "capabilities"), "control_d\n");
  const driver = new XenDriver({ home, network, procXen });
  const name = `${driver.domainPrefix}i0123456789ab`;
  const instance: Instance = {
    id: "i0123456789ab", driver: "xen", endpoint: { host: "10.233.49.5", port: 8080 },
    handle: { id: "i0123456789ab", driver: "xen", data: {} }, detail: "xen-pvh",
  };
  after(() => driver.close());

  it("stops with xl shutdown, and xl destroy once the grace period has passed", async () => {
    process.env.XL_DOMID = "7"; // the domain outlives the grace period
    await driver.stop(instance, 300);
    const seq = (await calls()).map((c) => c.join(" "));
    assert.equal(seq[0], `domid ${name}`);
    assert.equal(seq[1], `shutdown ${name}`);
    assert.deepEqual(seq.slice(-2), [`domid ${name}`, `destroy ${name}`]);
    assert.ok(seq.slice(2, -2).every((c) => c === `domid ${name}`), `only domid polls between: ${seq.join(", ")}`);
  });

  it("sweeps domains of its own prefix only", async () => {
    process.env.XL_LISTED = name;
    process.env.XL_DOMID = "7";
    await driver.sweep(new Set());
    const seq = (await calls()).map((c) => c.join(" "));
    assert.deepEqual(seq, ["list", `domid ${name}`, `destroy ${name}`]);
  });
});
