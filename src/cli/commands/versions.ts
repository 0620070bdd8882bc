import type { Command } from "commander";
import { ApiClient } from "../client.js";
import { ago, bytes, percent, table } from "../render.js";
import type { VersionOut } from "../../api/index.js";

export function register(program: Command): void {
  program
    .command("versions <app>")
    .description("list an app's versions: status, traffic share, created, digest, size")
    .option("--json", "print JSON")
    .action(async (app: string, opts: { json?: boolean }) => {
      const client = await ApiClient.connect();
      const list = await client.get<VersionOut[]>(`/v1/apps/${encodeURIComponent(app)}/versions`);
      if (opts.json) return console.log(JSON.stringify(list, null, 2));
      console.log(
        table(
          ["version", "status", "traffic", "runtime", "runs", "sandbox", "created", "digest", "size", "url"],
          list.map((v) => [
            v.version,
            v.error ? `${v.status}: ${v.error.split("\n")[0]!.slice(0, 60)}` : v.status,
            percent(v.traffic),
            v.runtime,
            v.runs,
            v.driver ?? "router",
            ago(v.createdAt),
            v.digest?.slice(0, 19),
            bytes(v.sizeBytes),
            v.url,
          ]),
        ),
      );
    });
}
