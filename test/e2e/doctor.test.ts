import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN } from "./harness.js";

test("strata doctor with no daemon probes this host, prints the driver table and exits", { timeout: 90_000 }, async (t) => {
  const home = await mkdtemp(join(tmpdir(), "strata-doctor-"));
  t.after(() => rm(home, { recursive: true, force: true }));
  const child = spawn(process.execPath, [BIN, "doctor"], { env: { ...process.env, STRATA_HOME: home }, stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => void child.kill("SIGKILL")); // only if it hangs: a no-op once it has exited
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => resolve("still running after 60 s"), 60_000);
    child.once("exit", (c, signal) => {
      clearTimeout(timer);
      resolve(c ?? String(signal));
    });
  });
  assert.equal(code, 0, out);
  assert.match(out, /^DRIVER\s+ISOLATION\s+STATUS\s+DETAILS$/m);
  assert.match(out, /^isolate\s+v8-isolate\s+/m);
});
