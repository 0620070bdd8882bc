import type { Command } from "commander";
import { spawn } from "node:child_process";
import { openSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { StrataError } from "../../errors.js";
import { StrataHome } from "../../home.js";
import { daemonRunning, readDaemonInfo } from "../../daemon-info.js";
import { waitFor } from "../wait.js";

export interface UpOptions {
  detach?: boolean;
  apiPort: string;
  routerPort: string;
  routerHost: string;
  domain: string;
  defaultApp?: string;
}

export function register(program: Command): void {
  program
    .command("up")
    .description("start the Strata daemon: API on 127.0.0.1:7070, router on :8080, state under $STRATA_HOME")
    .option("-d, --detach", "run in the background (logs in $STRATA_HOME/daemon.log)")
    .option("--api-port <port>", "API port (127.0.0.1 only)", process.env.STRATA_API_PORT ?? "7070")
    .option("--router-port <port>", "router port", process.env.STRATA_ROUTER_PORT ?? "8080")
    .option("--router-host <addr>", "address the router listens on", process.env.STRATA_ROUTER_HOST ?? "0.0.0.0")
    .option("--domain <domain>", "apps answer at APP.DOMAIN", process.env.STRATA_DOMAIN ?? "localhost")
    .option("--default-app <app>", "the app the bare domain serves")
    .action(async (opts: UpOptions) => {
      const home = new StrataHome();
      const existing = await readDaemonInfo(home);
      if (existing && daemonRunning(existing)) {
        throw new StrataError("CONFLICT", `a Strata daemon is already running for ${home.root} (pid ${existing.pid}, API ${existing.apiUrl}); stop it with: strata down`);
      }
      if (!opts.detach) {
        const { runDaemon } = await import("../../daemon.js");
        await runDaemon(home, {
          apiPort: Number(opts.apiPort),
          routerPort: Number(opts.routerPort),
          routerHost: opts.routerHost,
          domain: opts.domain,
          ...(opts.defaultApp !== undefined && { defaultApp: opts.defaultApp }),
        });
        return;
      }
      await mkdir(home.root, { recursive: true });
      const out = openSync(home.daemonLog, "a");
      const args = [process.argv[1]!, "up", "--api-port", opts.apiPort, "--router-port", opts.routerPort, "--router-host", opts.routerHost, "--domain", opts.domain];
      if (opts.defaultApp) args.push("--default-app", opts.defaultApp);
      const child = spawn(process.execPath, [...process.execArgv, ...args], {
        detached: true,
        stdio: ["ignore", out, out],
        env: { ...process.env, STRATA_HOME: home.root },
      });
      child.unref();
      const info = await waitFor(async () => {
        if (child.exitCode !== null) {
          throw new StrataError("INTERNAL", `the daemon exited at start (code ${child.exitCode}); see ${home.daemonLog}`);
        }
        const i = await readDaemonInfo(home);
        return i && i.pid === child.pid ? i : undefined;
      }, 60_000, `the daemon did not come up within 60 s; see ${home.daemonLog}`);
      console.log(`Strata is up (pid ${info.pid}): API ${info.apiUrl}, router ${info.routerUrl}`);
    });
}
