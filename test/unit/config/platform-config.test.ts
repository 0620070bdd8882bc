import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parsePlatformConfig, readPlatformConfig } from "../../../src/config/platform-config.js";
import { StrataError } from "../../../src/errors.js";

function refused(text: string, pattern: RegExp): void {
  assert.throws(() => parsePlatformConfig(text, "config.yaml"), (e: unknown) => e instanceof StrataError && e.code === "INVALID_CONFIG" && pattern.test(e.message));
}

const DEFAULTS = { pipIndexUrl: "https://pypi.org/simple", goProxy: "https://proxy.golang.org" };

test("config.yaml: every setting is optional, an empty file or none gives the defaults (PyPI, the Go module proxy)", async (t) => {
  assert.deepEqual(parsePlatformConfig(""), DEFAULTS);
  assert.deepEqual(parsePlatformConfig("# nothing set yet\n"), DEFAULTS);
  assert.deepEqual(parsePlatformConfig("pip:\n  index-url: https://mirror.example/simple\nisolate:\n  max-request-body-mb: 64\n  engines: 4\n"), {
    pipIndexUrl: "https://mirror.example/simple",
    goProxy: DEFAULTS.goProxy,
    isolateMaxRequestBodyBytes: 64 * 1024 * 1024,
    isolateEngines: 4,
  });
  assert.deepEqual(parsePlatformConfig("microvm:\n  snapshots: true\n"), { ...DEFAULTS, microvmSnapshots: true });
  assert.deepEqual(parsePlatformConfig("microvm:\n  snapshots: false\n"), DEFAULTS);
  assert.deepEqual(parsePlatformConfig("microvm:\n  snapshots: true\n  snapshot-disk-mb: 512\n"), { ...DEFAULTS, microvmSnapshots: true, microvmSnapshotDiskMb: 512 });
  assert.deepEqual(parsePlatformConfig("vm:\n  snapshots: true\n"), { ...DEFAULTS, vmSnapshots: true });
  assert.deepEqual(parsePlatformConfig("scheduler:\n  app-start-timeout-sec: 300\n"), { ...DEFAULTS, appStartTimeoutMs: 300_000 });
  assert.deepEqual(parsePlatformConfig("pip:\n  index-url: \"off\"\ngo:\n  proxy: \"off\"\n"), {}, "off: builds use only what the app vendors");
  const dir = await mkdtemp(join(tmpdir(), "strata-cfg-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.deepEqual(await readPlatformConfig(join(dir, "config.yaml")), DEFAULTS);
  await writeFile(join(dir, "config.yaml"), "pip:\n  index-url: http://mirror.internal:3141/root/pypi/+simple/\ngo:\n  proxy: https://goproxy.internal\n");
  assert.deepEqual(await readPlatformConfig(join(dir, "config.yaml")), { pipIndexUrl: "http://mirror.internal:3141/root/pypi/+simple/", goProxy: "https://goproxy.internal" });
});

test("config.yaml: a misspelt key, a wrong value or a wrong shape is refused with its line and what is allowed", () => {
  refused("pip:\n  index_url: https://pypi.org/simple\n", /config\.yaml:2:3.*index_url.*index-url/);
  refused("pip:\n  index-url: ftp://mirror/simple\n", /config\.yaml:2:\d+.*must be an http:\/\/ or https:\/\/ URL, or off/);
  refused("go:\n  proxy: proxy.golang.org\n", /config\.yaml:2:\d+.*must be an http:\/\/ or https:\/\/ URL, or off/);
  refused("isolate:\n  max-request-body-mb: 0\n", /config\.yaml:2:\d+.*at least 1/);
  refused("isolate:\n  max-request-body-mb: lots\n", /config\.yaml:2:\d+.*whole number of MiB/);
  refused("isolate:\n  engines: 0\n", /config\.yaml:2:\d+.*at least 1/);
  refused("microvm:\n  snapshots: yes please\n", /config\.yaml:2:\d+.*true or false/);
  refused("microvm:\n  snapshot-disk-mb: 10\n", /config\.yaml:2:\d+.*at least 64/);
  refused("scheduler:\n  app-start-timeout-sec: 0\n", /config\.yaml:2:\d+.*at least 1/);
  refused("- pip\n", /top level must be a mapping/);
  refused("pip: [\n", /YAML syntax error/);
});
