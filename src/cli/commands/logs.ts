import type { Command } from "commander";
import { ApiClient } from "../client.js";
import type { LogLine } from "../../logs/index.js";

export function formatLogLine(l: LogLine): string {
  if (l.kind === "access") {
    return `${l.time} ${l.version} ${l.method} ${l.path} ${l.status} ${l.bytes}B ${l.latencyMs.toFixed(1)}ms${l.instance ? ` ${l.instance}` : ""}${l.requestId ? ` request ${l.requestId}: ${l.error ?? ""}` : ""}`;
  }
  return `${l.time} ${l.version} ${l.instance} [${l.stream}] ${l.line}`;
}

export function register(program: Command): void {
  program
    .command("logs <app>")
    .description("an app's access log and its instances' stdout/stderr, interleaved")
    .option("-t, --tail", "keep streaming new lines as they arrive")
    .option("-n, --lines <n>", "how many past lines", "100")
    .option("--json", "print JSON lines")
    .action(async (app: string, opts: { tail?: boolean; lines: string; json?: boolean }) => {
      const client = await ApiClient.connect();
      const q = new URLSearchParams({ lines: opts.lines, ...(opts.tail && { follow: "1" }) });
      await client.stream("GET", `/v1/apps/${encodeURIComponent(app)}/logs?${q}`, undefined, (v) => {
        console.log(opts.json ? JSON.stringify(v) : formatLogLine(v as LogLine));
      });
    });
}
