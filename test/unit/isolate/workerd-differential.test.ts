import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import assert from "node:assert/strict";
import { build } from "../../../src/build/isolate/index.js";
import { StrataHome } from "../../../src/home.js";
import type { Instance } from "../../../src/sandbox/driver.js";
import { IsolateDriver } from "../../../src/sandbox/isolate/index.js";
import { LogSink, spec } from "./helpers.js";
import { ACCEPTED } from "./workerd-differences.js";
import { router, send, startWorkerd, type CaseRequest } from "./workerd-oracle.js";

/**
 * workerd (Cloudflare's runtime) is the oracle: every worker in test/fixtures/web-api runs under it and
 * under Strata's isolates, and their answers must be the same, unless workerd-differences.ts lists the
 * case with its reason. A listed case that now agrees fails too, so the list only shrinks. A case is
 * sent a GET, or the request its module exports as `request` ({ method, headers, body }).
 */
const CORPUS = join(import.meta.dirname, "../../fixtures/web-api");

async function startStrata(t: { after(fn: () => Promise<void>): void }, root: string, src: string): Promise<Instance> {
  const home = new StrataHome(join(root, "home"));
  // A generous CPU budget: the corpus compares behaviour, not speed, on a busy machine.
  const driver = new IsolateDriver({ home, cpuMsPerRequest: 2_000 });
  t.after(() => driver.close());
  const prepared = await driver.prepare(await build(src, { outDir: join(home.builds, "corpus") }), spec("prepare"));
  return await driver.start(prepared, spec("corpus-1"), new LogSink());
}

test("Web API behaviours answer as under workerd, except the listed differences", async (t) => {
  const names = (await readdir(CORPUS)).filter((f) => f.endsWith(".js")).map((f) => f.slice(0, -3)).sort();
  const root = await mkdtemp(join(tmpdir(), "strata-workerd-diff-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const src = join(root, "src");
  await mkdir(src);
  for (const n of names) await copyFile(join(CORPUS, `${n}.js`), join(src, `${n}.js`));
  await writeFile(join(src, "index.js"), router(names));

  const port = await startWorkerd(t, src, names);
  const inst = await startStrata(t, root, src);
  const socketPath = (inst.endpoint as { socket: string }).socket;

  const unexpected: string[] = [];
  const stale: string[] = [];
  let same = 0;
  for (const name of names) {
    const init = ((await import(pathToFileURL(join(CORPUS, `${name}.js`)).href)) as { request?: CaseRequest }).request;
    const oracle = await send({ port }, `/${name}`, init);
    const ours = await send({ socketPath }, `/${name}`, init);
    const agree = oracle.status === ours.status && oracle.body === ours.body;
    if (agree) same++;
    if (!agree && !(name in ACCEPTED)) {
      unexpected.push(`${name}:\n  workerd ${oracle.status} ${oracle.body}\n  strata  ${ours.status} ${ours.body}`);
    } else if (agree && name in ACCEPTED) stale.push(name);
  }
  const unknown = Object.keys(ACCEPTED).filter((n) => !names.includes(n));
  t.diagnostic(`${names.length} cases: ${same} agree with workerd, ${names.length - same} differ (${Object.keys(ACCEPTED).length} listed)`);
  assert.deepEqual(unexpected, [], "differences from workerd not listed in workerd-differences.ts");
  assert.deepEqual(stale, [], "listed in workerd-differences.ts but now agreeing with workerd: remove them");
  assert.deepEqual(unknown, [], "listed in workerd-differences.ts with no such case in the corpus");
});
