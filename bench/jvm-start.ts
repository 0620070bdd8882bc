import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { StrataHome } from "../src/home.js";
import type { ImageRef } from "../src/images/image-ref.js";
import { HostNetwork } from "../src/net/index.js";
import type { InstanceSpec } from "../src/sandbox/driver.js";
import { OciDriver } from "../src/sandbox/oci/index.js";
import { firstOk } from "./container.js";
import { median } from "./measure.js";

/**
 * A JVM app's cold start under runc: start() called → the first HTTP 200 from the app (the JVM's start and
 * Spring Boot's), with the default instance class's memory (F1, 384 MB). Issue 18 puts the same jar in a
 * VM (kata) beside this figure once that driver exists.
 */
export async function jvmColdStart(image: ImageRef, runs = 3): Promise<{ medianMs: number; times: number[] }> {
  const root = await mkdtemp(join("/var/tmp", "strata-bench-jvm-"));
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabench1", subnet: "10.233.3.0/24" });
  await network.ensure();
  const driver = new OciDriver({ home, runtime: "runc", network });
  const spec = (id: string): InstanceSpec => ({
    instanceId: id, app: "bench-jvm", version: "v1", port: 8080, env: { PORT: "8080", GAE_SERVICE: "bench-jvm" },
    limits: { memoryMb: 384, cpuMillis: 1000, pids: 256 },
  });
  const times: number[] = [];
  try {
    const prepared = await driver.prepare(image, spec("bench-jvm-prep"));
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const instance = await driver.start(prepared, spec(`bench-jvm-${i}`), { log: () => undefined });
      try {
        const ep = instance.endpoint as { host: string; port: number };
        await firstOk(ep.host, ep.port);
        times.push(performance.now() - t0);
      } finally {
        await driver.stop(instance, 0);
      }
    }
  } finally {
    await driver.sweep(new Set());
    await driver.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
  return { medianMs: Math.round(median(times)), times };
}
