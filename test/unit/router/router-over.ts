import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LogStore } from "../../../src/logs/log-store.js";
import type { InstanceSource } from "../../../src/router/backend.js";
import { Router } from "../../../src/router/router.js";

/**
 * A real Router on an ephemeral loopback port whose one app, `app` (version v1, all traffic), is served by
 * `instances`; it, its log store and its log folder are removed when the test ends.
 */
export async function routerOver(t: { after(fn: () => Promise<void>): void }, instances: InstanceSource): Promise<{ port: number; logs: LogStore }> {
  const logDir = await mkdtemp(join(tmpdir(), "strata-router-test-"));
  const logs = new LogStore(logDir);
  const router = new Router({ domain: "localhost", logs, instances });
  router.setTable({ apps: new Map([["app", { split: { splitBy: "random", versions: ["v1"], bounds: [1] }, versions: new Map([["v1", { kind: "instances", version: "v1", site: undefined }]]) }]]) });
  const port = await router.listen(0, "127.0.0.1");
  t.after(async () => {
    await router.close();
    await logs.close();
    await rm(logDir, { recursive: true, force: true });
  });
  return { port, logs };
}
