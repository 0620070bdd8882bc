import { Readable } from "node:stream";
import type { Command } from "commander";
import { StrataError } from "../../errors.js";
import { ApiClient } from "../client.js";
import type { ExecProgress } from "../../api/index.js";

export function register(program: Command): void {
  program
    .command("exec <app> <command...>")
    .description("run a command in a running instance of an app (its output streams here; strata exec exits with its code), e.g. strata exec os-box -- systemctl is-active nginx")
    .option("-i, --instance <id>", "the instance (see strata instances APP); default: the first ready one")
    // Options go before `--`; everything after it is the command, its own options included.
    .action(async (app: string, command: string[], opts: { instance?: string }) => {
      const client = await ApiClient.connect();
      const body = JSON.stringify({ command, ...(opts.instance !== undefined && { instance: opts.instance }) });
      let code: number | undefined;
      await client.stream("POST", `/v1/apps/${encodeURIComponent(app)}/exec`, Readable.from([body]), (v) => {
        const line = v as ExecProgress;
        if (line.type === "stdout") process.stdout.write(Buffer.from(line.data, "base64"));
        else if (line.type === "stderr") process.stderr.write(Buffer.from(line.data, "base64"));
        else if (line.type === "exit") code = line.code;
        else if (line.type === "error") throw new StrataError(line.error.code as StrataError["code"], line.error.message, line.error.details);
      }, { "content-type": "application/json" });
      if (code === undefined) throw new StrataError("DAEMON_UNREACHABLE", "the daemon ended the exec stream before the command's exit code");
      process.exitCode = code;
    });
}
