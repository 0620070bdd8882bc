import type { Command } from "commander";
import { ApiClient } from "../client.js";
import type { DriverReport } from "../../sandbox/index.js";
import { StrataHome } from "../../home.js";
import { table } from "../render.js";

export function register(program: Command): void {
  program
    .command("doctor")
    .description("which sandbox drivers this host can run, and for each that cannot, why and what to install")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      // Ask the running daemon (it knows its configuration); without one, probe this host directly.
      let reports: DriverReport[];
      let runtimes: Record<string, string> | undefined;
      try {
        const client = await ApiClient.connect();
        const r = await client.get<{ drivers: DriverReport[]; runtimes: Record<string, string> }>("/v1/doctor");
        reports = r.drivers;
        runtimes = r.runtimes;
      } catch (err) {
        if ((err as { code?: string }).code !== "DAEMON_UNREACHABLE") throw err;
        const { probeAll } = await import("../../sandbox/index.js");
        reports = await probeAll(new StrataHome());
      }
      if (opts.json) return console.log(JSON.stringify({ drivers: reports, runtimes }, null, 2));
      console.log(
        table(
          ["driver", "isolation", "status", "details"],
          reports.map((r) => [
            r.driver,
            r.isolation,
            !r.implemented ? "not built yet" : r.available ? "available" : "unavailable",
            r.available
              ? Object.entries(r.details ?? {}).map(([k, v]) => `${k}=${v}`).join(" ")
              : `${r.reason ?? ""}${r.install?.length ? ` (install: ${r.install.join(", ")})` : ""}`,
          ]),
        ),
      );
      if (runtimes) {
        console.log("\nDefault sandbox per runtime (app.yaml `sandbox:` overrides):");
        console.log(table(["runtime", "sandbox"], Object.entries(runtimes)));
      }
    });
}
