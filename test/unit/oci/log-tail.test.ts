import assert from "node:assert/strict";
import { appendFile, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, describe, it } from "node:test";
import { LogTail } from "../../../src/sandbox/oci/log-tail.js";

const TS = "2026-11-25T01:23:30.471071698+00:00";

function recorder() {
  const lines: string[] = [];
  return { lines, io: { log: (stream: "stdout" | "stderr", line: string) => lines.push(`${stream}:${line}`) } };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await sleep(50);
}

describe("LogTail (conmon k8s-file)", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function files() {
    const dir = await mkdtemp(join(tmpdir(), "strata-logtail-"));
    dirs.push(dir);
    return { log: join(dir, "ctr.log"), offset: join(dir, "log.offset") };
  }

  it("splits records by stream, joins partial lines, and keeps spaces in the text", async () => {
    const f = await files();
    const r = recorder();
    const tail = new LogTail(f.log, f.offset, r.io);
    await tail.start();
    await writeFile(f.log, `${TS} stdout F hello world\n${TS} stderr P par\n${TS} stdout F next\n${TS} stderr F tial\n`);
    await until(() => r.lines.length >= 3);
    await tail.stop();
    assert.deepEqual(r.lines, ["stdout:hello world", "stdout:next", "stderr:partial"]);
  });

  it("resumes from the saved offset after a restart, without repeating or losing lines", async () => {
    const f = await files();
    const first = recorder();
    const a = new LogTail(f.log, f.offset, first.io);
    await a.start();
    await writeFile(f.log, `${TS} stdout F one\n${TS} stdout F two\n${TS} stdout F thr`);
    await until(() => first.lines.length >= 2);
    await a.stop();
    await appendFile(f.log, `ee\n${TS} stdout F four\n`); // written while "the daemon was down"
    const second = recorder();
    const b = new LogTail(f.log, f.offset, second.io);
    await b.start();
    await until(() => second.lines.length >= 2);
    await b.stop();
    assert.deepEqual(first.lines, ["stdout:one", "stdout:two"]);
    assert.deepEqual(second.lines, ["stdout:three", "stdout:four"]);
  });

  it("starts over when conmon replaces the file at its size cap", async () => {
    const f = await files();
    const r = recorder();
    const tail = new LogTail(f.log, f.offset, r.io);
    await tail.start();
    await writeFile(f.log, `${TS} stdout F before the cap\n`);
    await until(() => r.lines.length >= 1);
    await writeFile(`${f.log}.new`, `${TS} stdout F after\n`);
    await rename(`${f.log}.new`, f.log);
    await until(() => r.lines.length >= 2);
    await tail.stop();
    assert.deepEqual(r.lines, ["stdout:before the cap", "stdout:after"]);
  });
});
