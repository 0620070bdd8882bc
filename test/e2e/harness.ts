import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BIN = join(REPO, "bin", "strata.js");

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

interface DaemonInfo {
  pid: number;
  apiUrl: string;
  routerPort: number;
}

/** A real Strata daemon in a temp STRATA_HOME on ephemeral ports, driven through the real CLI. */
export class TestDaemon {
  private child: ChildProcess | undefined;
  info!: DaemonInfo;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  /** `bin`: the `strata` entry this daemon and its CLI run; another checkout's, for a before/after bench. */
  private constructor(
    readonly home: string,
    private readonly bin: string,
  ) {}

  /**
   * `configYaml`: the daemon's $STRATA_HOME/config.yaml. `leftoverInfo`: a daemon.json found at the first
   * start, as a daemon that died without removing its own leaves it.
   */
  static async start(opts: { configYaml?: string; leftoverInfo?: Record<string, unknown>; bin?: string } = {}): Promise<TestDaemon> {
    // Under /var/tmp with a traversable mode: instances run as a mapped (unprivileged) root that must
    // reach their rootfs below STRATA_HOME.
    const home = await mkdtemp(join("/var/tmp", "strata-e2e-"));
    await chmod(home, 0o755);
    if (opts.configYaml !== undefined) await writeFile(join(home, "config.yaml"), opts.configYaml);
    const d = new TestDaemon(home, opts.bin ?? BIN);
    try {
      await d.up(opts.leftoverInfo);
    } catch (err) {
      await d.stop();
      throw err;
    }
    return d;
  }

  get env(): NodeJS.ProcessEnv {
    // Base images are shared with the unit tests' store, so each is bootstrapped once per machine.
    return { ...process.env, STRATA_HOME: this.home, STRATA_IMAGES: join(process.env.STRATA_TEST_IMAGES ?? "/var/tmp/strata-test-images", "images") };
  }

  /** Starts (or restarts) the daemon in the foreground of a child process and waits for daemon.json. */
  async up(leftoverInfo?: Record<string, unknown>): Promise<void> {
    if (leftoverInfo) await writeFile(join(this.home, "daemon.json"), JSON.stringify(leftoverInfo));
    else await rm(join(this.home, "daemon.json"), { force: true });
    const child = spawn(process.execPath, [this.bin, "up", "--api-port", "0", "--router-port", "0", "--router-host", "127.0.0.1"], {
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    let output = "";
    child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`daemon exited at start (${child.exitCode}): ${output}`);
      const text = await readFile(join(this.home, "daemon.json"), "utf8").catch(() => undefined);
      if (text) {
        this.info = JSON.parse(text) as DaemonInfo;
        if (this.info.pid === child.pid) return;
      }
      if (Date.now() > deadline) throw new Error(`daemon did not start in 60 s: ${output}`);
      await sleep(50);
    }
  }

  /** kill -9: no shutdown code runs, instances are left as they are. */
  async kill9(): Promise<void> {
    const child = this.child!;
    child.kill("SIGKILL");
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r));
  }

  /** Stops the daemon (SIGTERM, then SIGKILL after 30 s) and removes its home. Safe to call twice. */
  async stop(): Promise<void> {
    this.agent.destroy();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    }
    // containers/storage keeps its graph root mounted on itself (as podman's does); unmount what is left
    // below the home, deepest first, before removing it.
    const mounts = (await readFile("/proc/self/mounts", "utf8"))
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m.startsWith(this.home + "/"))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) execFileSync("umount", ["-l", m]);
    await rm(this.home, { recursive: true, force: true });
  }

  /** Runs the real CLI against this daemon. */
  cli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [this.bin, ...args], { env: this.env, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      p.on("error", reject);
      p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
      p.stdin.end(input ?? "");
    });
  }

  async cliOk(args: string[]): Promise<string> {
    const r = await this.cli(args);
    if (r.code !== 0) throw new Error(`strata ${args.join(" ")} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Why `driver` cannot run on this host (its probe's reason, as `strata doctor` says), or undefined. */
  async driverUnavailable(driver: string): Promise<string | undefined> {
    const doctor = JSON.parse(await this.cliOk(["doctor", "--json"])) as { drivers: Array<{ driver: string; available: boolean; reason?: string }> };
    const d = doctor.drivers.find((x) => x.driver === driver);
    return d?.available ? undefined : `${driver} cannot run on this host: ${d?.reason ?? "unknown driver"}`;
  }

  async token(): Promise<string> {
    return (await readFile(join(this.home, "token"), "utf8")).trim();
  }

  /** An HTTP request through the router, to 127.0.0.1 with the given Host. */
  request(host: string, path = "/", opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<HttpResult> {
    return send({ host: "127.0.0.1", port: this.info.routerPort, path, method: opts.method ?? "GET", headers: { host, ...opts.headers }, agent: this.agent }, opts.body);
  }

  /** An HTTP request to the API (with the token unless `token: null`). */
  async api(method: string, path: string, opts: { body?: Buffer | string; token?: string | null; headers?: Record<string, string> } = {}): Promise<HttpResult> {
    const url = new URL(path, this.info.apiUrl);
    const token = opts.token === undefined ? await this.token() : opts.token;
    return send(
      {
        host: url.hostname,
        port: Number(url.port),
        path: url.pathname + url.search,
        method,
        headers: { ...(token !== null && { authorization: `Bearer ${token}` }), ...opts.headers },
      },
      opts.body,
    );
  }
}

function send(opts: http.RequestOptions, body?: Buffer | string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, text: b.toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}
