import { spawn } from "node:child_process";
import { request } from "node:http";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";

/**
 * workerd, Cloudflare's runtime from npm, as the differential tests' oracle: the corpus served by workerd
 * (and the same requests sent to a Strata instance by `send`).
 */
const WORKERD = join(import.meta.dirname, "../../../node_modules/.bin/workerd");
export const COMPATIBILITY_DATE = "2025-01-01";
const REQUEST_TIMEOUT_MS = 5_000;

export interface Answer { status: number; body: string }
export interface CaseRequest { method?: string; headers?: Record<string, string>; body?: string }

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** One request, to a TCP port (workerd) or a unix socket (a Strata instance); a hang answers status -1. */
export function send(target: { port: number } | { socketPath: string }, path: string, init: CaseRequest = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { host: "app.localhost", ...init.headers };
    const req = request({ ...target, host: "127.0.0.1", path, method: init.method ?? "GET", headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => {
      req.destroy();
      resolve({ status: -1, body: `no answer within ${REQUEST_TIMEOUT_MS} ms` });
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

/** The corpus as one module: each case is a module of its own, and the entry routes /NAME to it. */
export function router(names: string[]): string {
  const imports = names.map((n, i) => `import c${i} from "./${n}.js";`).join("\n");
  const table = names.map((n, i) => `  ${JSON.stringify(n)}: c${i},`).join("\n");
  return `${imports}
const CASES = {
${table}
};
export default {
  async fetch(request, env, ctx) {
    const c = CASES[new URL(request.url).pathname.slice(1)];
    if (!c) return new Response("no such case", { status: 404 });
    try {
      return await c.fetch(request, env, ctx);
    } catch (e) {
      return new Response("threw " + (e && e.name) + ": " + (e && e.message), { status: 500 });
    }
  },
};
`;
}

/** The worker's compatibility date (default COMPATIBILITY_DATE) and its [vars] (strings as text bindings, others as JSON). */
export interface OracleWorker { compatibilityDate?: string; vars?: Record<string, unknown> }

function bindings(vars: Record<string, unknown>): string {
  return Object.entries(vars)
    .map(([name, v]) => (typeof v === "string" ? `(name = ${JSON.stringify(name)}, text = ${JSON.stringify(v)})` : `(name = ${JSON.stringify(name)}, json = ${JSON.stringify(JSON.stringify(v))})`))
    .join(", ");
}

function workerdConfig(names: string[], port: number, flags: readonly string[], worker: OracleWorker): string {
  const modules = ["index", ...names].map((n) => `(name = "${n}.js", esModule = embed "${n}.js")`).join(",\n    ");
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .corpus) ],
  sockets = [ ( name = "http", address = "127.0.0.1:${port}", http = (), service = "main" ) ],
);
const corpus :Workerd.Worker = (
  modules = [
    ${modules}
  ],
  compatibilityDate = "${worker.compatibilityDate ?? COMPATIBILITY_DATE}",
  compatibilityFlags = [${flags.map((f) => JSON.stringify(f)).join(", ")}],
  bindings = [${bindings(worker.vars ?? {})}],
);
`;
}

/** workerd serving the corpus in `dir` (index.js routes /NAME to case NAME) on a free port. */
export async function startWorkerd(t: { after(fn: () => Promise<void>): void }, dir: string, names: string[], flags: readonly string[] = [], worker: OracleWorker = {}): Promise<number> {
  const port = await freePort();
  await writeFile(join(dir, "config.capnp"), workerdConfig(names, port, flags, worker));
  const p = spawn(WORKERD, ["serve", join(dir, "config.capnp")], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  t.after(async () => {
    // workerd ignores SIGTERM (seen on this host): SIGKILL ends it.
    if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    await exited;
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await send({ port }, "/").then(() => true, () => false);
    if (up) return port;
    if (p.exitCode !== null) throw new Error(`workerd exited (${p.exitCode}): ${stderr}`);
    if (Date.now() > deadline) throw new Error(`workerd did not answer within 15 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

