import type { Command } from "commander";
import { ApiClient } from "../client.js";
import type { EventOut } from "../../api/index.js";

function line(e: EventOut): string {
  const where = [e.app, e.version].filter(Boolean).join("/");
  return `${e.time}  ${e.type.padEnd(18)} ${where.padEnd(24)} ${e.message}`;
}

export function register(program: Command): void {
  program
    .command("events")
    .description("platform events: deployed, traffic changed, deleted, instances started and stopped")
    .option("--app <app>", "only this app's events")
    .option("-f, --follow", "keep streaming new events")
    .option("-n, --limit <n>", "how many past events", "50")
    .option("--json", "print JSON lines")
    .action(async (opts: { app?: string; follow?: boolean; limit: string; json?: boolean }) => {
      const client = await ApiClient.connect();
      const q = new URLSearchParams({ limit: opts.limit, ...(opts.app && { app: opts.app }), ...(opts.follow && { follow: "1" }) });
      await client.stream("GET", `/v1/events?${q}`, undefined, (v) => {
        const e = v as EventOut;
        console.log(opts.json ? JSON.stringify(e) : line(e));
      });
    });
}
