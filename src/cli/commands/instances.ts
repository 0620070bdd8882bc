import type { Command } from "commander";
import { ApiClient } from "../client.js";
import { bytes, table } from "../render.js";
import type { InstanceOut, ScalingOut } from "../../api/index.js";

export function register(program: Command): void {
  program
    .command("instances <app>")
    .description("an app's instances: id, version, driver (gVisor: with its platform), address, state, in-flight requests, memory, CPU, uptime")
    .option("--json", "print JSON")
    .action(async (app: string, opts: { json?: boolean }) => {
      const client = await ApiClient.connect();
      const list = await client.get<InstanceOut[]>(`/v1/apps/${encodeURIComponent(app)}/instances`);
      if (opts.json) return console.log(JSON.stringify(list, null, 2));
      const scaling = await client.get<ScalingOut[]>(`/v1/apps/${encodeURIComponent(app)}/scaling`);
      // Why each version has the count it has: the autoscaler's decision, its mode and its reason.
      const why = scaling.map((s) => `${s.version}: ${s.current} running, ${s.desired} wanted (${s.mode}; ${s.reason})`).join("\n");
      if (list.length === 0) return console.log(`${app} has no instances running (it scales from zero on the next request).${why ? `\n${why}` : ""}`);
      const now = Date.now();
      console.log(
        table(
          ["instance", "version", "driver", "address", "state", "in-flight", "memory", "cpu", "uptime"],
          list.map((i) => [
            i.id,
            i.version,
            i.detail === undefined ? i.driver : `${i.driver} (${i.detail})`,
            i.endpoint,
            i.state,
            i.inflight,
            i.memoryBytes === undefined ? undefined : bytes(i.memoryBytes),
            i.cpuMs === undefined ? undefined : `${(i.cpuMs / 1000).toFixed(2)}s`,
            `${Math.round((now - i.startedAt) / 1000)}s`,
          ]),
        ),
      );
      if (why) console.log(why);
    });
}
