/**
 * The Java example (Spring Boot, examples/java-app) in a VM-isolated container (kata: Strata's agent in a
 * QEMU microvm guest) beside the same jar under runc, in the same run: kata's cold start (VM boot, then the
 * JVM and Spring in the guest; start() called → first 200, checked against the 120 s default readiness budget) and
 * kata's restore from the snapshot taken once the first instance listened (config.yaml
 * `microvm.snapshots`): the scale from zero issue 18 asks for, with the JVM already started.
 */
import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { JavaBuilder } from "../src/build/java/builder.js";
import { StrataHome } from "../src/home.js";
import { ImageCatalog, imagePaths } from "../src/images/catalog.js";
import type { ImageRef } from "../src/images/image-ref.js";
import { OciLayout } from "../src/images/layout.js";
import { HostNetwork } from "../src/net/index.js";
import type { InstanceSpec } from "../src/sandbox/driver.js";
import { KataDriver } from "../src/sandbox/kata/index.js";
import { firstOk } from "./container.js";
import { jvmColdStart } from "./jvm-start.js";
import { median, percentile, type BenchRow } from "./measure.js";

const EXAMPLE = fileURLToPath(new URL("../examples/java-app/", import.meta.url));
/** The scheduler's default readiness budget for VMs (READY_BUDGET_MS): a cold start past it needs app.yaml readiness_check.app_start_timeout_sec. */
const READY_BUDGET_MS = 120_000;
/** How long this bench waits for a cold JVM in the guest: past the budget, to measure it anyway. */
const COLD_WAIT_MS = 600_000;
const RESTORES = 3;

/** The example's image, built by the Java buildpack into the shared image store (its Maven layer cached by the POM). */
async function javaAppImage(): Promise<{ image: ImageRef; untag: () => Promise<void> }> {
  const home = new StrataHome(process.env.STRATA_BENCH_IMAGES ?? "/var/tmp/strata-test-images");
  const layout = new OciLayout(imagePaths(home).layout);
  const catalog = new ImageCatalog(home, layout);
  for (const base of ["java17", "java17-jdk"]) await catalog.ensure(base);
  const src = await mkdtemp(join(tmpdir(), "strata-bench-java-vm-"));
  const app = `bench-java-vm-${process.pid}`;
  try {
    await cp(EXAMPLE, src, { recursive: true });
    const built = await new JavaBuilder().build({ app, version: "v1", sourceDir: src, spec: {}, home, layout, catalog, log: () => {} });
    const ref = built.image.ref;
    return { image: built.image, untag: async () => (ref ? layout.untag(ref) : undefined) };
  } finally {
    await rm(src, { recursive: true, force: true });
  }
}

function spec(id: string): InstanceSpec {
  // As jvm-start.ts gives runc: the default instance class (F1, 384 MB).
  return {
    instanceId: id, app: "bench-jvm", version: "v1", port: 8080, env: { PORT: "8080", GAE_SERVICE: "bench-jvm" },
    limits: { memoryMb: 384, cpuMillis: 1000, pids: 256 },
  };
}

export async function benchJavaVm(): Promise<BenchRow[]> {
  const { image, untag } = await javaAppImage();
  const root = await mkdtemp(join("/var/tmp", "strata-bench-java-vm-"));
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabenchj0", subnet: "10.233.16.0/24" });
  const kata = new KataDriver({ home, network, snapshots: true });
  const io = { log: () => undefined };
  try {
    const probe = await kata.probe();
    if (!probe.available) throw new Error(`kata cannot run here: ${probe.reason}`);
    await network.ensure();
    const runc = await jvmColdStart(image);
    const prepared = await kata.prepare(image, spec("bench-jvm-prep"));

    // Cold: the version's first instance boots; once it listens, it is snapshotted.
    const t0 = performance.now();
    const first = await kata.start(prepared, spec("bench-jvm-kata-first"), io);
    let coldMs: number;
    try {
      const ep = first.endpoint as { host: string; port: number };
      const answered = await firstOk(ep.host, ep.port, COLD_WAIT_MS).then(() => true, () => false);
      coldMs = performance.now() - t0;
      if (!answered) {
        return [
          { name: `java-app under runc: cold start (start → first 200), median of ${runc.times.length}`, value: runc.medianMs, unit: "ms" },
          { name: `java-app in kata: cold start, no 200 within ${COLD_WAIT_MS / 1000} s (so no snapshot to restore)`, value: Math.round(coldMs), unit: "ms", peer: `runc ${runc.medianMs} ms` },
        ];
      }
      const snapDir = join(root, "cache", "microvm-snapshots");
      const has = async () => (await readdir(snapDir, { recursive: true }).catch(() => [] as string[])).some((f) => f.endsWith(".vmstate"));
      for (let i = 0; i < 1200 && !(await has()); i++) await sleep(100);
      if (!(await has())) throw new Error(`no snapshot of the first kata instance within 120 s of its first 200 (cold start ${Math.round(coldMs)} ms)`);
    } finally {
      await kata.stop(first, 0); // scale to zero
    }

    const restores: number[] = [];
    for (let i = 0; i < RESTORES; i++) {
      const r0 = performance.now();
      const instance = await kata.start(prepared, spec(`bench-jvm-kata-restore-${i}`), io);
      try {
        if (!instance.detail?.includes("restored")) throw new Error(`kata booted ${instance.id} instead of restoring it`);
        const ep = instance.endpoint as { host: string; port: number };
        await firstOk(ep.host, ep.port, 60_000);
        restores.push(performance.now() - r0);
      } finally {
        await kata.stop(instance, 0);
      }
    }
    await kata.release(prepared);
    const ms = (x: number) => Math.round(x);
    return [
      { name: `java-app under runc: cold start (start → first 200: JVM + Spring Boot, F1 384 MB), median of ${runc.times.length}`, value: runc.medianMs, unit: "ms" },
      {
        name: `java-app in kata (${probe.details?.uses ?? "?"}): cold start (VM boot + JVM + Spring Boot), one start`,
        value: ms(coldMs), unit: "ms",
        peer: `runc ${runc.medianMs} ms; readiness budget ${READY_BUDGET_MS / 1000} s: ${coldMs <= READY_BUDGET_MS ? "within" : "MISSED"}`,
      },
      { name: `java-app in kata: restore from snapshot (start → first 200), median of ${RESTORES}`, value: ms(median(restores)), unit: "ms", peer: `kata cold ${ms(coldMs)} ms; runc cold ${runc.medianMs} ms` },
      { name: "java-app in kata: restore from snapshot, p99", value: ms(percentile(restores, 99)), unit: "ms" },
    ];
  } finally {
    await kata.sweep(new Set());
    await kata.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
    await untag();
  }
}
