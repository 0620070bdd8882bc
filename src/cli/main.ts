import { Command, CommanderError } from "commander";
import { asStrataError } from "../errors.js";
import * as apps from "./commands/apps.js";
import * as deploy from "./commands/deploy.js";
import * as doctor from "./commands/doctor.js";
import * as down from "./commands/down.js";
import * as events from "./commands/events.js";
import * as exec from "./commands/exec.js";
import * as functions from "./commands/functions.js";
import * as images from "./commands/images.js";
import * as instances from "./commands/instances.js";
import * as logs from "./commands/logs.js";
import * as rollback from "./commands/rollback.js";
import * as traffic from "./commands/traffic.js";
import * as up from "./commands/up.js";
import * as versions from "./commands/versions.js";

export function buildProgram(): Command {
  const program = new Command("strata")
    .description("Strata: a self-hostable App Engine. Deploy a folder; it is built, sandboxed, routed and scaled.")
    .version("0.1.0")
    .enablePositionalOptions()
    .showHelpAfterError()
    .addHelpText(
      "after",
      "\nEnvironment:\n  STRATA_HOME     data directory (default /var/lib/strata for root, else ~/.strata)\n  STRATA_API_URL  talk to this API instead of the one in $STRATA_HOME/daemon.json\n  STRATA_TOKEN    API token (default: $STRATA_HOME/token)",
    );
  for (const m of [up, down, deploy, apps, versions, traffic, rollback, instances, exec, images, logs, events, functions, doctor]) m.register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    const e = asStrataError(err);
    console.error(`error: ${e.message}`);
    if (e.code === "INTERNAL" && process.env.STRATA_DEBUG) console.error(err);
    process.exitCode = 1;
  }
}
