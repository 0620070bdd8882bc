import type { Command } from "commander";
import { StrataError } from "../../errors.js";
import { ApiClient } from "../client.js";
import { percent } from "../render.js";
import type { TrafficOut } from "../../api/index.js";

/** Parses `v1=0.8,v2=0.2` (shares, or percentages that add up to 100). */
export function parseSplits(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z0-9-]+)=([0-9.]+)(%?)$/.exec(part);
    if (!m) throw new StrataError("INVALID_ARGUMENT", `"${part}" is not VERSION=SHARE (e.g. v1=0.8,v2=0.2)`);
    out[m[1]!] = Number(m[2]) / (m[3] ? 100 : 1);
  }
  const sum = Object.values(out).reduce((a, b) => a + b, 0);
  if (Object.keys(out).length === 0) throw new StrataError("INVALID_ARGUMENT", "--splits needs at least one VERSION=SHARE");
  // Accept shares written as percentages without the % sign (v1=80,v2=20), as gcloud does.
  if (Math.abs(sum - 100) < 1e-6) for (const k of Object.keys(out)) out[k] = out[k]! / 100;
  return out;
}

function show(t: TrafficOut): void {
  const parts = Object.entries(t.allocations).map(([v, s]) => `${v}=${percent(s)}`);
  console.log(`${t.app}: ${parts.join(", ") || "no traffic"} (split by ${t.splitBy})`);
}

export function register(program: Command): void {
  const traffic = program.command("traffic").description("show or change how an app's traffic is split between versions");
  traffic
    .command("get <app>")
    .description("show the current split")
    .option("--json", "print JSON")
    .action(async (app: string, opts: { json?: boolean }) => {
      const client = await ApiClient.connect();
      const t = await client.get<TrafficOut>(`/v1/apps/${encodeURIComponent(app)}/traffic`);
      if (opts.json) console.log(JSON.stringify(t, null, 2));
      else show(t);
    });
  traffic
    .command("set <app>")
    .description("split traffic between versions, e.g. --splits v1=0.8,v2=0.2")
    .requiredOption("--splits <splits>", "VERSION=SHARE,... (shares add up to 1)")
    .option("--split-by <how>", "random | cookie (sticky, GOOGAPPUID) | ip", "random")
    .action(async (app: string, opts: { splits: string; splitBy: string }) => {
      if (!["random", "cookie", "ip"].includes(opts.splitBy)) {
        throw new StrataError("INVALID_ARGUMENT", `--split-by must be random, cookie or ip, not "${opts.splitBy}"`);
      }
      const client = await ApiClient.connect();
      show(await client.put<TrafficOut>(`/v1/apps/${encodeURIComponent(app)}/traffic`, { splits: parseSplits(opts.splits), splitBy: opts.splitBy }));
    });
  traffic
    .command("migrate <app> <version>")
    .description("send all traffic to one version")
    .action(async (app: string, version: string) => {
      const client = await ApiClient.connect();
      show(await client.post<TrafficOut>(`/v1/apps/${encodeURIComponent(app)}/traffic/migrate`, { version }));
    });
}
