import type { Command } from "commander";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { StrataError } from "../../errors.js";
import { ApiClient } from "../client.js";
import { ago, table } from "../render.js";
import type { DeployProgress, FunctionOut } from "../../api/index.js";
import type { LogLine } from "../../logs/index.js";
import { formatLogLine } from "./logs.js";

interface DeployFlags {
  name?: string;
  runtime?: string;
  handler?: string;
  memory?: string;
  timeout?: string;
  env: string[];
  reservedConcurrency?: string;
  idleTimeout?: string;
  sandbox?: string;
  version?: string;
  promote: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** The flags as function.yaml keys (they win over the folder's function.yaml). */
function configOf(flags: DeployFlags): Record<string, unknown> {
  const num = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) throw new StrataError("INVALID_ARGUMENT", `--${flag} must be a whole number, got "${v}"`);
    return n;
  };
  const env: Record<string, string> = {};
  for (const kv of flags.env) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new StrataError("INVALID_ARGUMENT", `--env takes KEY=VALUE, got "${kv}"`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const out: Record<string, unknown> = {
    runtime: flags.runtime,
    handler: flags.handler,
    memory: num("memory", flags.memory),
    timeout: num("timeout", flags.timeout),
    reserved_concurrency: num("reserved-concurrency", flags.reservedConcurrency),
    idle_timeout: flags.idleTimeout,
    sandbox: flags.sandbox,
    ...(flags.env.length > 0 && { env }),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

export function register(program: Command): void {
  const functions = program.command("functions").description("hosted functions with AWS Lambda's programming model (function.yaml, the Runtime API, function URLs)");

  functions
    .command("deploy [dir]")
    .description("build and deploy a folder as a new version of a function (function.yaml, or the flags below)")
    .option("--name <name>", "the function's name (default: the folder's name)")
    .option("--runtime <id>", "nodejs20.x, nodejs22.x, ruby3.3 or provided (also nodejs20, nodejs22, provided.al2023)")
    .option("--handler <handler>", "file.export (index.handler), file.method (function.handler), or anything for provided")
    .option("--memory <mb>", "memory in MB, 128-10240 (default 128)")
    .option("--timeout <s>", "timeout in seconds, 1-900 (default 3)")
    .option("--env <KEY=VALUE>", "an environment variable (repeatable)", collect, [])
    .option("--reserved-concurrency <n>", "most invocations (instances) at once (default 10)")
    .option("--idle-timeout <duration>", "how long an idle instance is kept (default 5m)")
    .option("--sandbox <driver>", "the sandbox its instances run in (default: Strata's choice)")
    .option("--version <version>", "version name (default: a timestamp)")
    .option("--no-promote", "deploy without moving invocations to the new version")
    .action(async (dir: string | undefined, flags: DeployFlags) => {
      const [{ parseFunctionYaml }, { createArchive, loadIgnore }, { appNameFor }] = await Promise.all([
        import("../../config/index.js"),
        import("../../artifacts/index.js"),
        import("../app-name.js"),
      ]);
      const root = resolve(dir ?? ".");
      if (!(await stat(root).catch(() => undefined))?.isDirectory()) throw new StrataError("INVALID_ARGUMENT", `${root} is not a folder`);
      const config = configOf(flags);
      const yamlText = await readFile(join(root, "function.yaml"), "utf8").catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      });
      // Checked here first, so a typo fails before the upload.
      parseFunctionYaml(yamlText, join(root, "function.yaml"), config);
      const name = appNameFor(root, { ...(flags.name !== undefined && { app: flags.name }) });
      const client = await ApiClient.connect();
      const work = await mkdtemp(join(tmpdir(), "strata-fn-"));
      try {
        const archive = join(work, "source.tar.gz");
        await createArchive(root, archive, await loadIgnore(root));
        const q = new URLSearchParams({ promote: String(flags.promote), ...(flags.version && { version: flags.version }), ...(Object.keys(config).length && { config: JSON.stringify(config) }) });
        let result: Extract<DeployProgress, { type: "done" }> | undefined;
        let failure: StrataError | undefined;
        await client.stream(
          "POST",
          `/v1/functions/${encodeURIComponent(name)}/versions?${q}`,
          createReadStream(archive),
          (v) => {
            const p = v as DeployProgress;
            if (p.type === "step") console.error(`==> ${p.message}`);
            else if (p.type === "log") console.error(`    ${p.line}`);
            else if (p.type === "warning") console.error(`warning: ${p.message}`);
            else if (p.type === "done") result = p;
            else failure = new StrataError(p.error.code as StrataError["code"], p.error.message, p.error.details);
          },
          { "content-type": "application/gzip", "content-length": String((await stat(archive)).size) },
        );
        if (failure) throw failure;
        if (!result) throw new StrataError("INTERNAL", "the daemon ended the deploy without a result");
        console.log(`Deployed function ${name} version ${result.version.version}${flags.promote ? "" : " (not serving: --no-promote)"}`);
        for (const u of result.urls) console.log(`  ${u}`);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });

  functions
    .command("invoke <name>")
    .description("invoke a function and print its result (Lambda's error document, and exit 1, when it failed)")
    .option("--payload <json>", "the event, as JSON", "{}")
    .option("--async", "queue the invocation (Lambda's Event type: retried twice on error) and print its request id")
    .option("--version <version>", "invoke this version instead of the serving one")
    .action(async (name: string, opts: { payload: string; async?: boolean; version?: string }) => {
      try {
        JSON.parse(opts.payload);
      } catch (err) {
        throw new StrataError("INVALID_ARGUMENT", `--payload is not JSON: ${(err as Error).message}`);
      }
      const client = await ApiClient.connect();
      const q = new URLSearchParams({ ...(opts.async && { async: "1" }), ...(opts.version && { version: opts.version }) });
      const r = await client.exchange("POST", `/v1/functions/${encodeURIComponent(name)}/invocations?${q}`, opts.payload, { "content-type": "application/json" });
      const text = r.body.toString("utf8");
      if (r.status === 202) return console.log((JSON.parse(text) as { requestId: string }).requestId);
      if (r.status >= 400) throw new StrataError("INVALID_ARGUMENT", `${String(r.headers["x-amzn-errortype"] ?? r.status)}: ${(JSON.parse(text) as { message?: string }).message ?? text}`, { status: r.status });
      console.log(text);
      const functionError = r.headers["x-amz-function-error"];
      if (functionError) {
        console.error(`function error (${String(functionError)}), request ${String(r.headers["x-amzn-requestid"])}`);
        process.exitCode = 1;
      }
    });

  functions
    .command("list")
    .description("deployed functions")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ApiClient.connect()).get<FunctionOut[]>("/v1/functions");
      if (opts.json) return console.log(JSON.stringify(list, null, 2));
      if (list.length === 0) return console.log("No functions yet. Deploy one with: strata functions deploy DIR");
      const serving = (s: Record<string, number>) => Object.keys(s).join(",") || "-";
      console.log(table(["function", "runtime", "handler", "memory", "timeout", "serving", "created", "url"], list.map((f) => [f.name, f.runtime, f.handler, `${f.memoryMb} MB`, `${f.timeoutS} s`, serving(f.serving), ago(f.createdAt), f.url])));
    });

  functions
    .command("logs <name>")
    .description("a function's START/END/REPORT lines and its runtime's output")
    .option("-t, --tail", "keep streaming new lines")
    .option("-n, --lines <n>", "how many past lines", "100")
    .action(async (name: string, opts: { tail?: boolean; lines: string }) => {
      const client = await ApiClient.connect();
      const q = new URLSearchParams({ lines: opts.lines, ...(opts.tail && { follow: "1" }) });
      await client.stream("GET", `/v1/apps/${encodeURIComponent(name)}/logs?${q}`, undefined, (v) => console.log(formatLogLine(v as LogLine)));
    });

  functions
    .command("delete <name>")
    .description("delete a function with its versions and instances")
    .action(async (name: string) => {
      await (await ApiClient.connect()).delete(`/v1/functions/${encodeURIComponent(name)}`);
      console.log(`Deleted function ${name}`);
    });
}
