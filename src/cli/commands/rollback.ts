import type { Command } from "commander";
import { ApiClient } from "../client.js";
import { percent } from "../render.js";

export function register(program: Command): void {
  program
    .command("rollback <app>")
    .description("move traffic back to the split before the last change (no rebuild)")
    .action(async (app: string) => {
      const client = await ApiClient.connect();
      const t = await client.post<{ allocations: Record<string, number> }>(`/v1/apps/${encodeURIComponent(app)}/rollback`);
      console.log(`${app}: ${Object.entries(t.allocations).map(([v, s]) => `${v}=${percent(s)}`).join(", ")}`);
    });
}
