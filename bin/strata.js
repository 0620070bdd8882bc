#!/usr/bin/env node
// The `strata` command: runs the compiled CLI (npm run build writes dist/).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const entry = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "cli", "main.js");
if (!existsSync(entry)) {
  console.error("error: Strata is not built yet: run `npm run build` in " + join(dirname(entry), "..", ".."));
  process.exit(1);
}
const { main } = await import(entry);
await main(process.argv);
