import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import net from "node:net";
import { TestDaemon } from "../test/e2e/harness.js";
import { median, wrk, type BenchRow } from "./measure.js";

const SMALL_FILE = "hello.txt";
const SMALL_BODY = "Hello from a small static file.\n".repeat(4); // 128 bytes

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, "127.0.0.1", () => (c.destroy(), r(true)));
      c.on("error", () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listened on ${port}`);
}

async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  const t = setTimeout(() => p.kill("SIGKILL"), 5000);
  await done;
  clearTimeout(t);
}

/** Deploy time of a 200-file static site, and router throughput beside Caddy and nginx on the same file. */
export async function benchRouter(): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), "strata-bench-router-"));
  const d = await TestDaemon.start();
  const children: ChildProcess[] = [];
  try {
    const rows: BenchRow[] = [];
    // 200 files, each deploy distinct, so no deploy is a pure cache hit of the previous one: small pages
    // (~0.5 KiB, below the precompression threshold) and 8 KiB pages (each gzipped and brotli'd).
    for (const [label, repeat] of [["~0.5 KiB pages", 20], ["8 KiB pages, precompressed", 320]] as const) {
      const times: number[] = [];
      for (let run = 0; run < 5; run++) {
        const site = join(work, `site-${repeat}-${run}`);
        await mkdir(join(site, "pages"), { recursive: true });
        await writeFile(join(site, "index.html"), `<h1>run ${run}</h1>`);
        for (let i = 0; i < 199; i++) await writeFile(join(site, "pages", `p${i}.html`), `<p>page ${i} of run ${run}</p>\n`.repeat(repeat));
        const t0 = performance.now();
        await d.cliOk(["deploy", site, "--app", `bench-site-${repeat}`, "--version", `r${run}`]);
        times.push(performance.now() - t0);
      }
      rows.push({ name: `deploy a 200-file static site, ${label} (CLI, median of 5)`, value: Math.round(median(times)), unit: "ms", peer: "target ≤ 1000 ms" });
    }

    const docroot = join(work, "docroot");
    await mkdir(docroot, { recursive: true });
    await writeFile(join(docroot, SMALL_FILE), SMALL_BODY);
    await writeFile(join(docroot, "index.html"), "<p>bench</p>");
    await d.cliOk(["deploy", docroot, "--app", "bench-file", "--version", "v1"]);

    const caddyPort = await freePort();
    const caddy = spawn("caddy", ["file-server", "--root", docroot, "--listen", `127.0.0.1:${caddyPort}`], { stdio: "ignore", env: { ...process.env, HOME: work } });
    children.push(caddy);
    const nginxPort = await freePort();
    const nginxConf = join(work, "nginx.conf");
    await writeFile(
      nginxConf,
      `worker_processes auto; daemon off; pid ${work}/nginx.pid; error_log ${work}/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path ${work}/nb; proxy_temp_path ${work}/np; fastcgi_temp_path ${work}/nf; uwsgi_temp_path ${work}/nu; scgi_temp_path ${work}/ns;
  server { listen 127.0.0.1:${nginxPort}; root ${docroot}; } }\n`,
    );
    const nginx = spawn("nginx", ["-c", nginxConf, "-p", work], { stdio: "ignore" });
    children.push(nginx);
    await waitListening(caddyPort);
    await waitListening(nginxPort);

    const seconds = 10;
    // Warm each server briefly so JIT and caches are fair, then measure.
    await wrk(`http://127.0.0.1:${d.info.routerPort}/${SMALL_FILE}`, { connections: 50, seconds: 2, host: "bench-file.localhost" });
    const strata = await wrk(`http://127.0.0.1:${d.info.routerPort}/${SMALL_FILE}`, { connections: 50, seconds, host: "bench-file.localhost" });
    await wrk(`http://127.0.0.1:${caddyPort}/${SMALL_FILE}`, { connections: 50, seconds: 2 });
    const caddyR = await wrk(`http://127.0.0.1:${caddyPort}/${SMALL_FILE}`, { connections: 50, seconds });
    await wrk(`http://127.0.0.1:${nginxPort}/${SMALL_FILE}`, { connections: 50, seconds: 2 });
    const nginxR = await wrk(`http://127.0.0.1:${nginxPort}/${SMALL_FILE}`, { connections: 50, seconds });
    for (const [name, r] of [["Strata router", strata], ["caddy file-server", caddyR], ["nginx", nginxR]] as const) {
      rows.push({ name: `${name}: small static file, 50 connections`, value: Math.round(r.requestsPerSec), unit: "req/s" });
      rows.push({ name: `${name}: p50 latency`, value: r.p50Ms, unit: "ms" });
      rows.push({ name: `${name}: p99 latency`, value: r.p99Ms, unit: "ms" });
    }
    rows.push({ name: "Strata router throughput / Caddy's", value: Math.round((strata.requestsPerSec / caddyR.requestsPerSec) * 100) / 100, unit: "×", peer: "target ≥ 1.0" });
    rows.push({ name: "Strata router throughput / nginx's", value: Math.round((strata.requestsPerSec / nginxR.requestsPerSec) * 100) / 100, unit: "×" });
    return rows;
  } finally {
    for (const c of children) await stopChild(c);
    await d.stop();
    await rm(work, { recursive: true, force: true });
  }
}
