import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { exec, which } from "../../../src/system/exec.js";
import { pathExists } from "../../../src/system/fs.js";

// The guest init's own Go tests (guest/init/*_test.go): the vsock channels of a Firecracker guest
// (vsock.go), the Xen channel and tty handling. They run on the host; a vsock connection needs a VM, so
// the vsock test covers the channel logic over socket pairs and a vsock listen.
it("the guest init's Go tests pass", async (t) => {
  const go = (await which("go")) ?? ((await pathExists("/usr/local/go/bin/go")) ? "/usr/local/go/bin/go" : null);
  if (!go) return t.skip("Go is not installed (scripts/setup-host.sh)");
  const src = fileURLToPath(new URL("../../../src/sandbox/guest/init", import.meta.url));
  const { stdout } = await exec([go, "test", "-count=1", "-v", "."], {
    cwd: src, timeoutMs: 300_000, env: { ...process.env, GOFLAGS: "-mod=mod", GOCACHE: join("/var/cache/strata/guest", "gocache") },
  });
  assert.match(stdout, /--- PASS: TestVsockPortReadsLikeAVirtioSerialPort/);
  assert.match(stdout, /--- PASS: TestVsockLogHoldsLinesUntilAHostReads/);
  assert.match(stdout, /^ok\s/m);
});
