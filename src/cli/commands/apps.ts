import type { Command } from "commander";
import { createInterface } from "node:readline/promises";
import { StrataError } from "../../errors.js";
import { ApiClient } from "../client.js";
import { ago, percent, table } from "../render.js";
import type { AppOut } from "../../api/index.js";

export function register(program: Command): void {
  const apps = program
    .command("apps")
    .description("list deployed apps")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const client = await ApiClient.connect();
      const list = await client.get<AppOut[]>("/v1/apps");
      if (opts.json) return console.log(JSON.stringify(list, null, 2));
      if (list.length === 0) return console.log("No apps yet. Deploy one with: strata deploy DIR");
      const serving = (s: Record<string, number>) =>
        Object.entries(s).map(([v, share]) => `${v}=${percent(share)}`).join(",") || "-";
      console.log(table(["app", "serving", "versions", "created", "url"], list.map((a) => [a.name, serving(a.serving), a.versions, ago(a.createdAt), a.url])));
    });

  apps
    .command("delete <name>")
    .description("delete an app with all its versions, instances and traffic settings")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (name: string, opts: { yes?: boolean }) => {
      if (!opts.yes) {
        if (!process.stdin.isTTY) {
          throw new StrataError("INVALID_ARGUMENT", `refusing to delete "${name}" without confirmation: pass --yes`);
        }
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`Delete app "${name}" and all its versions? Type the app name to confirm: `);
        rl.close();
        if (answer.trim() !== name) {
          console.log("Not deleted.");
          return;
        }
      }
      const client = await ApiClient.connect();
      await client.delete(`/v1/apps/${encodeURIComponent(name)}`);
      console.log(`Deleted app ${name}.`);
    });
}
