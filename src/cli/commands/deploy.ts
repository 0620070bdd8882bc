import type { Command } from "commander";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Transform } from "node:stream";
import { StrataError } from "../../errors.js";
import { ApiClient } from "../client.js";
import { bytes } from "../render.js";
import type { DeployProgress } from "../../api/index.js";

export function register(program: Command): void {
  program
    .command("deploy [dir]")
    .description("build and deploy a folder as a new version of its app (app.yaml `service`, else the wrangler name, else the folder name)")
    .option("--app <name>", "deploy as this app (overrides app.yaml service, the wrangler name and the folder name)")
    .option("--version <version>", "version name (default: a timestamp, as App Engine does)")
    .option("--no-promote", "deploy without moving traffic to the new version")
    .option("--json", "print the deployed version as JSON at the end")
    .action(async (dir: string | undefined, opts: { app?: string; version?: string; promote: boolean; json?: boolean }) => {
      // Loaded here, not at the top: every other command starts faster without zod schemas and tar.
      const [{ parseAppYaml, readWranglerConfig }, { createArchive, loadIgnore }, { appNameFor }] = await Promise.all([
        import("../../config/index.js"),
        import("../../artifacts/index.js"),
        import("../app-name.js"),
      ]);
      const root = resolve(dir ?? ".");
      const st = await stat(root).catch(() => undefined);
      if (!st?.isDirectory()) throw new StrataError("INVALID_ARGUMENT", `${root} is not a folder`);
      // Validate app.yaml here first, so a typo fails in a second instead of after an upload.
      let service: string | undefined;
      const yamlText = await readFile(join(root, "app.yaml"), "utf8").catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      });
      if (yamlText !== undefined) {
        const { spec, warnings } = parseAppYaml(yamlText, join(root, "app.yaml"));
        for (const w of warnings) console.error(`warning: ${w.file}:${w.line}:${w.column}: ${w.message}`);
        service = spec.service;
      }
      // A wrangler file is read (and checked) only when it may name the app.
      const wrangler = opts.app === undefined && service === undefined ? await readWranglerConfig(root) : null;
      const app = appNameFor(root, { app: opts.app, service, ...(wrangler && { wrangler }) });
      const client = await ApiClient.connect();

      const work = await mkdtemp(join(tmpdir(), "strata-deploy-"));
      try {
        const archive = join(work, "source.tar.gz");
        const ignore = await loadIgnore(root);
        const packed = await createArchive(root, archive, ignore);
        const total = (await stat(archive)).size;
        console.error(`Uploading ${app} (${packed.files} files, ${bytes(total)})`);
        const q = new URLSearchParams({ promote: String(opts.promote), ...(opts.version && { version: opts.version }) });
        let sent = 0;
        const started = Date.now();
        let lastPrint = 0;
        const progress = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            sent += chunk.length;
            const now = Date.now();
            if (process.stderr.isTTY && (now - lastPrint > 200 || sent === total)) {
              lastPrint = now;
              const rate = sent / Math.max(0.001, (now - started) / 1000);
              process.stderr.write(`\r  ${bytes(sent)} / ${bytes(total)}  ${bytes(rate)}/s   `);
            }
            cb(null, chunk);
          },
        });
        let result: Extract<DeployProgress, { type: "done" }> | undefined;
        let failure: StrataError | undefined;
        await client.stream(
          "POST",
          `/v1/apps/${encodeURIComponent(app)}/versions?${q}`,
          createReadStream(archive).pipe(progress),
          (v) => {
            const p = v as DeployProgress;
            if (p.type === "step") console.error(`${process.stderr.isTTY ? "\r" : ""}==> ${p.message}`);
            else if (p.type === "log") console.error(`    ${p.line}`);
            else if (p.type === "warning") console.error(`warning: ${p.message}`);
            else if (p.type === "done") result = p;
            else failure = new StrataError(p.error.code as StrataError["code"], p.error.message, p.error.details);
          },
          { "content-type": "application/gzip", "content-length": String(total) },
        );
        if (failure) throw failure;
        if (!result) throw new StrataError("INTERNAL", "the daemon ended the deploy without a result");
        if (opts.json) console.log(JSON.stringify(result.version, null, 2));
        else {
          console.log(`Deployed ${app} version ${result.version.version}${opts.promote ? "" : " (no traffic: --no-promote)"}`);
          for (const u of result.urls) console.log(`  ${u}`);
        }
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
}
