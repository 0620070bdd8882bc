import { readdir, readFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { exec } from "../../system/exec.js";
import type { EndedState, Endpoint, Instance, InstanceIO, InstanceState, SandboxDriver } from "../driver.js";

/** One HTTP GET to an instance endpoint (TCP or unix socket), bounded by a 5 s timeout. */
export function httpGet(endpoint: Endpoint, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = "socket" in endpoint ? { socketPath: endpoint.socket } : { host: endpoint.host, port: endpoint.port };
    const req = request({ ...target, path, timeout: 5000, headers: { connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** Polls until the endpoint answers 200 (readiness is the caller's job, as the scheduler's). */
export async function waitForHttp(endpoint: Endpoint, path = "/", timeoutMs = 20_000): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const r = await httpGet(endpoint, path);
      if (r.status === 200) return r;
      last = new Error(`status ${r.status}`);
    } catch (err) {
      last = err;
    }
    await sleep(20);
  }
  throw new Error(`no HTTP 200 from ${JSON.stringify(endpoint)}${path} within ${timeoutMs} ms: ${(last as Error)?.message}`);
}

/** Polls inspect() until `done` holds (bounded). */
export async function waitForState(
  driver: SandboxDriver,
  instance: Instance,
  done: (s: InstanceState) => boolean,
  timeoutMs = 20_000,
): Promise<InstanceState> {
  const deadline = Date.now() + timeoutMs;
  let state = await driver.inspect(instance);
  while (!done(state) && Date.now() < deadline) {
    await sleep(50);
    state = await driver.inspect(instance);
  }
  return state;
}

/** An InstanceIO that keeps every line, for assertions. */
export function recordingIO(): InstanceIO & { lines: Array<{ stream: string; line: string }>; exits: EndedState[]; text(): string } {
  const lines: Array<{ stream: string; line: string }> = [];
  const exits: EndedState[] = [];
  return {
    lines,
    exits,
    log(stream, line) {
      lines.push({ stream, line });
    },
    exited(state) {
      exits.push(state);
    },
    text() {
      return lines.map((l) => `${l.stream}: ${l.line}`).join("\n");
    },
  };
}

export async function waitForLog(io: { lines: Array<{ line: string }> }, pattern: RegExp, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (io.lines.some((l) => pattern.test(l.line))) return true;
    await sleep(50);
  }
  return false;
}

/**
 * What is left on the host with the instance id in its name: network namespaces, links (by name or
 * alias), mounts, cgroups and processes (by command line). Drivers name everything after the instance id, so this needs no driver
 * knowledge.
 */
export async function leftovers(instanceId: string): Promise<string[]> {
  const found: string[] = [];
  // No /run/netns: no named namespace exists at all.
  for (const ns of await readdir("/run/netns").catch(() => [] as string[])) if (ns.includes(instanceId)) found.push(`netns ${ns}`);
  const links = JSON.parse((await exec(["ip", "-j", "link", "show"])).stdout || "[]") as Array<{ ifname: string; ifalias?: string }>;
  for (const l of links) if (l.ifname.includes(instanceId) || l.ifalias === instanceId) found.push(`link ${l.ifname}`);
  for (const line of (await readFile("/proc/self/mountinfo", "utf8")).split("\n")) {
    const point = line.split(" ")[4];
    if (point?.includes(instanceId)) found.push(`mount ${point}`);
  }
  for (const dir of await findDirs("/sys/fs/cgroup", instanceId, 5)) found.push(`cgroup ${dir}`);
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => ""); // gone meanwhile: nothing left
    if (cmdline.split("\0").some((arg) => arg.includes(instanceId))) found.push(`process ${pid} ${cmdline.replaceAll("\0", " ").trim()}`);
  }
  return found;
}

async function findDirs(root: string, name: string, depth: number): Promise<string[]> {
  if (depth < 0) return [];
  const out: string[] = [];
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []); // a cgroup removed meanwhile
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const path = join(root, e.name);
    if (e.name === name) out.push(path);
    else out.push(...(await findDirs(path, name, depth - 1)));
  }
  return out;
}
