import { spawn } from "node:child_process";

/** One figure of a benchmark table; `peer` names what it is compared with in the same run. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  peer?: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export interface WrkResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n;
}

/** wrk against a loopback URL, bounded in time; parses throughput and latency percentiles. */
export function wrk(url: string, opts: { connections: number; seconds: number; threads?: number; host?: string }): Promise<WrkResult> {
  const args = ["-t", String(opts.threads ?? 2), "-c", String(opts.connections), "-d", `${opts.seconds}s`, "--latency", url];
  if (opts.host) args.unshift("-H", `Host: ${opts.host}`);
  return new Promise((resolve, reject) => {
    const p = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (c: Buffer) => (out += c.toString()));
    p.stderr.on("data", (c: Buffer) => (out += c.toString()));
    p.on("error", reject);
    p.on("close", (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${out}`));
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
      const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? "");
      const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? "");
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
      resolve({ requestsPerSec: rps, p50Ms: p50, p99Ms: p99, non2xx });
    });
  });
}
