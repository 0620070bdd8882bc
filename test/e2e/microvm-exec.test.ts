import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureBaseImages } from "../support/base-images.js";
import { REPO, TestDaemon } from "./harness.js";

let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-microvm-exec-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("microvm");
  if (!unavailableReason) await ensureBaseImages(["python"]);
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Starts `strata exec`'s API request and gives up on it (as Ctrl-C on the CLI does) once the instance is named. */
async function execThenAbandon(app: string, command: string[]): Promise<void> {
  const url = new URL(`/v1/apps/${app}/exec`, d.info.apiUrl);
  const token = await d.token();
  await new Promise<void>((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } }, (res) => {
      res.once("data", () => {
        req.destroy(); // the stream's first line: the command is on its way
        resolve();
      });
      res.once("error", () => undefined); // destroyed on purpose
    });
    req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
    req.end(JSON.stringify({ command }));
  });
}

test("strata exec runs a command in a microVM instance through its guest init: as the app, streamed, its exit code; an abandoned exec's command is killed", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "py");
  await cp(join(REPO, "test", "fixtures", "apps", "python-probe"), dir, { recursive: true });
  // Without the probe's 3 s idle timeout, so the instance is still up when exec comes.
  await writeFile(join(dir, "app.yaml"), 'runtime: python311\nsandbox: microvm\nenv_variables:\n  GREETING: "hello from app.yaml"\n');
  const r = await d.cli(["deploy", dir, "--app", "vmexec", "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  const app = JSON.parse((await d.request("vmexec.localhost", "/env")).text) as { uid: number };

  const out = await d.cli(["exec", "vmexec", "--", "/bin/sh", "-c", 'echo "service=$GAE_SERVICE greeting=$GREETING"; id -u; [ -f main.py ] && echo in-app-dir; echo oops >&2; exit 3']);
  assert.equal(out.code, 3, out.stderr);
  assert.equal(out.stdout, `service=vmexec greeting=hello from app.yaml\n${app.uid}\nin-app-dir\n`, "the app's env, user and working directory");
  assert.equal(out.stderr, "oops\n");

  const kernel = await d.cli(["exec", "vmexec", "--", "cat", "/proc/version"]);
  assert.equal(kernel.code, 0, kernel.stderr);
  assert.match(kernel.stdout, /^Linux version \S+-strata-\w+ /, "the command runs on the guest's kernel");

  const id = (JSON.parse(await d.cliOk(["instances", "vmexec", "--json"])) as Array<{ id: string }>)[0]!.id;
  assert.equal((await d.cli(["exec", "vmexec", "--instance", id, "--", "true"])).code, 0);
  const missing = await d.cli(["exec", "vmexec", "--", "no-such-command"]);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /no-such-command: not found/);

  // Output larger than one message of the channel (16 KiB chunks) arrives whole and in order.
  const big = await d.cli(["exec", "vmexec", "--", "/bin/sh", "-c", "seq 1 20000"]);
  assert.equal(big.code, 0, big.stderr);
  assert.equal(big.stdout, `${Array.from({ length: 20000 }, (_, i) => i + 1).join("\n")}\n`);

  // The caller goes away: the guest kills the command's process group, and the port serves the next exec.
  await execThenAbandon("vmexec", ["/bin/sh", "-c", "sleep 3017 & sleep 3018"]);
  const count = ["/bin/sh", "-c", 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < $f; echo; done | grep -c "^sleep 301[78]" || true'];
  let left = "";
  for (let i = 0; i < 50; i++) {
    const c = await d.cli(["exec", "vmexec", "--", ...count]);
    assert.equal(c.code, 0, c.stderr);
    left = c.stdout.trim();
    if (left === "0") break;
    await sleep(200);
  }
  assert.equal(left, "0", "the abandoned command and its children are gone");
});
