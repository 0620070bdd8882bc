/**
 * OCI container benchmark (runc): cold start (start() called → first HTTP 200 from the app), median
 * and p99 of 20, beside `podman run` (runc, same image) measured the same way in the same run; and the
 * memory one idle instance costs: its conmon's PSS plus what its memory cgroup is charged (the app's pages
 * and the kernel memory they cause), over 10 idle instances. Kernel objects outside the cgroup (netns,
 * veth, overlay superblock) are not counted.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataHome } from "../src/home.js";
import { HostNetwork } from "../src/net/index.js";
import { conformanceImage } from "../src/sandbox/conformance/index.js";
import type { Instance, InstanceSpec } from "../src/sandbox/driver.js";
import { OciDriver } from "../src/sandbox/oci/index.js";
import { exec } from "../src/system/exec.js";
import { median, percentile, type BenchRow } from "./measure.js";

const COLD_STARTS = 20;
const IDLE_INSTANCES = 10;
const PODMAN_IMAGE = "localhost/strata-bench-busybox:latest";
const PODMAN_PORT = 18_931;
const PODMAN_RUN = ["podman", "run", "--runtime", "/usr/sbin/runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

function spec(id: string): InstanceSpec {
  return {
    instanceId: id, app: "bench", version: "v1", port: 8080, env: { PORT: "8080" },
    limits: { memoryMb: 128, cpuMillis: 1000, pids: 128 },
  };
}

export function ok200(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: "/", timeout: 1000, headers: { connection: "close" } }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** Polls every 2 ms (bounded, by default to 30 s) so polling adds little to what is measured. */
export async function firstOk(host: string, port: number, withinMs = 30_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await ok200(host, port)) return;
    await sleep(2);
  }
  throw new Error(`no HTTP 200 from ${host}:${port} within ${withinMs / 1000} s`);
}

/** Proportional set size (shared library pages split between their users) of each matching process. */
export async function pssOf(pattern: string): Promise<number[]> {
  const out = await exec(["pgrep", "-f", pattern], { okCodes: [0, 1] });
  const pss: number[] = [];
  for (const pid of out.stdout.split("\n").filter(Boolean)) {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => ""); // exited meanwhile
    const kb = /^Pss:\s+(\d+) kB/m.exec(rollup)?.[1];
    if (kb) pss.push(Number(kb) * 1024);
  }
  return pss;
}

async function benchStrata(root: string): Promise<BenchRow[]> {
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabench0", subnet: "10.233.2.0/24" });
  await network.ensure();
  const driver = new OciDriver({ home, runtime: "runc", network });
  const live: Instance[] = [];
  const io = { log: () => undefined };
  try {
    const image = await conformanceImage();
    const prepared = await driver.prepare(image, spec("bench-prep"));
    const times: number[] = [];
    for (let i = 0; i < COLD_STARTS; i++) {
      const t0 = performance.now();
      const instance = await driver.start(prepared, spec(`bench-cold-${i}`), io);
      const ep = instance.endpoint as { host: string; port: number };
      await firstOk(ep.host, ep.port);
      times.push(performance.now() - t0);
      await driver.stop(instance, 0);
    }

    for (let i = 0; i < IDLE_INSTANCES; i++) {
      const instance = await driver.start(prepared, spec(`bench-idle-${i}`), io);
      live.push(instance);
      const ep = instance.endpoint as { host: string; port: number };
      await firstOk(ep.host, ep.port);
    }
    await sleep(2000); // let start-up garbage settle
    const conmonPss = median(await pssOf("conmon .*--cid bench-idle-"));
    let workingSet = 0;
    let charged = 0;
    for (const instance of live) {
      const s = await driver.inspect(instance);
      if (s.status === "running") workingSet += s.memoryBytes ?? 0;
      charged += Number(await readFile(`/sys/fs/cgroup/memory/strata/${home.tag}/runc/${instance.id}/memory.usage_in_bytes`, "utf8"));
    }
    const perInstance = conmonPss + charged / IDLE_INSTANCES;
    const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
    return [
      { name: "runc cold start (start → first 200), median", value: Math.round(median(times)), unit: "ms", peer: "podman run, median" },
      { name: "runc cold start, p99", value: Math.round(percentile(times, 99)), unit: "ms", peer: "podman run, p99" },
      { name: "memory per idle instance (conmon PSS + cgroup usage, incl. kernel memory charged)", value: mib(perInstance), unit: "MiB" },
      { name: "  of which conmon (PSS)", value: mib(conmonPss), unit: "MiB" },
      { name: "  container working set (usage minus inactive file cache)", value: mib(workingSet / IDLE_INSTANCES), unit: "MiB" },
    ];
  } finally {
    for (const instance of live) await driver.stop(instance, 0);
    await driver.sweep(new Set());
    await driver.close(); // removes this home's now empty parent cgroups
    await network.teardown();
  }
}

export async function benchPodman(): Promise<BenchRow[]> {
  const image = await conformanceImage();
  await exec(["skopeo", "copy", `oci:${image.path}:${image.ref}`, `containers-storage:${PODMAN_IMAGE}`]);
  const times: number[] = [];
  try {
    for (let i = 0; i < COLD_STARTS; i++) {
      const name = `strata-bench-podman-${i}`;
      const t0 = performance.now();
      // spawn, not exec(): the measured time must include podman's own start, and we poll meanwhile.
      const run = spawn(
        PODMAN_RUN[0]!,
        [...PODMAN_RUN.slice(1), "-d", "--rm", "--name", name, "-e", "PORT=8080", "-p", `127.0.0.1:${PODMAN_PORT}:8080`, PODMAN_IMAGE],
        { stdio: "ignore" },
      );
      const exited = new Promise<void>((resolve) => run.on("close", () => resolve()));
      await firstOk("127.0.0.1", PODMAN_PORT);
      times.push(performance.now() - t0);
      await exited;
      await exec(["podman", "rm", "--force", "--time", "0", name]);
    }
  } finally {
    await exec(["podman", "rmi", "--force", PODMAN_IMAGE], { okCodes: [0, 1, 2] });
  }
  return [
    { name: "podman run (runc) cold start, median", value: Math.round(median(times)), unit: "ms" },
    { name: "podman run (runc) cold start, p99", value: Math.round(percentile(times, 99)), unit: "ms" },
  ];
}

export async function benchContainer(): Promise<BenchRow[]> {
  const root = await mkdtemp(join("/var/tmp", "strata-bench-oci-"));
  try {
    const strata = await benchStrata(root);
    const podman = await benchPodman();
    return [...strata, ...podman];
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
