import type { Command } from "commander";
import { StrataHome } from "../../home.js";
import { daemonRunning, readDaemonInfo } from "../../daemon-info.js";
import { waitFor } from "../wait.js";

export function register(program: Command): void {
  program
    .command("down")
    .description("stop the daemon cleanly: drain requests, stop instances, close the store")
    .option("--timeout <s>", "seconds to wait before giving up", "60")
    .action(async (opts: { timeout: string }) => {
      const home = new StrataHome();
      const info = await readDaemonInfo(home);
      if (!info || !daemonRunning(info)) {
        console.log("Strata is not running.");
        return;
      }
      process.kill(info.pid, "SIGTERM");
      await waitFor(async () => (!daemonRunning(info) ? true : undefined), Number(opts.timeout) * 1000, `the daemon (pid ${info.pid}) did not stop within ${opts.timeout} s`);
      console.log("Strata stopped.");
    });
}
