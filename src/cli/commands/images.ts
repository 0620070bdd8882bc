import type { Command } from "commander";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { StrataError } from "../../errors.js";
import { ApiClient } from "../client.js";
import { ago, bytes, table } from "../render.js";
import type { ImageOut, PruneProgress } from "../../api/index.js";

export function register(program: Command): void {
  const images = program
    .command("images")
    .description("the local image catalog: base images built from Debian packages on first use, and imported images")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const client = await ApiClient.connect();
      const list = await client.get<ImageOut[]>("/v1/images");
      if (opts.json) return console.log(JSON.stringify(list, null, 2));
      console.log(
        table(
          ["name", "kind", "built", "digest", "size", "runs", "runtimes", "also known as", "contents"],
          list.map((i) => [
            i.name,
            i.kind,
            i.built ? (i.created ? ago(i.created) : "yes") : "on first use",
            i.digest?.slice(0, 19),
            i.sizeBytes === undefined ? undefined : bytes(i.sizeBytes),
            i.runs,
            i.runtimes?.join(", "),
            i.aliases.join(" ") || undefined,
            i.describes,
          ]),
        ),
      );
    });
  images
    .command("import <file> <name>")
    .description("import an OCI archive, a `docker save` archive or a rootfs tarball as NAME[:TAG], usable in FROM")
    .action(async (file: string, name: string) => {
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) throw new StrataError("INVALID_ARGUMENT", `${file} is not a file`);
      const client = await ApiClient.connect();
      const result = await client.upload<{ name: string; format: string; digest: string }>(
        `/v1/images/import?name=${encodeURIComponent(name)}`,
        createReadStream(file),
        { "content-type": "application/octet-stream", "content-length": String(st.size) },
      );
      console.log(`Imported ${result.name} (${result.format}, ${result.digest.slice(0, 19)})`);
    });
  images
    .command("prune")
    .description("remove app images and artifacts no version uses (deleted versions, failed builds) and every layer, blob and build cache nothing needs")
    .option("--dry-run", "only say what would be removed")
    .option("--json", "print the result as JSON")
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const client = await ApiClient.connect();
      let result: Extract<PruneProgress, { type: "done" }>["result"] | undefined;
      let failure: StrataError | undefined;
      await client.stream("POST", `/v1/images/prune?dryRun=${opts.dryRun ? "true" : "false"}`, undefined, (v) => {
        const p = v as PruneProgress;
        if (p.type === "log") console.error(`    ${p.line}`);
        else if (p.type === "done") result = p.result;
        else failure = new StrataError(p.error.code as StrataError["code"], p.error.message, p.error.details);
      });
      if (failure) throw failure;
      if (!result) throw new StrataError("INTERNAL", "the daemon ended the prune without a result");
      if (opts.json) return console.log(JSON.stringify(result, null, 2));
      const r = result;
      const verb = r.dryRun ? "Would remove" : "Removed";
      const rows: Array<[string, number, number | undefined]> = [
        ["images", r.images.length, undefined],
        ["blobs", r.blobs.count, r.blobs.bytes],
        ["unpacked layers", r.unpackedLayers.count, r.unpackedLayers.bytes],
        ["uid-shifted layers", r.shiftedLayers.count, r.shiftedLayers.bytes],
        ["crash leftovers", r.debris.count, r.debris.bytes],
        ["buildah images", r.buildah.images.length, r.dryRun ? undefined : r.buildah.bytes],
        ["artifact blobs", r.artifacts.blobs.count, r.artifacts.blobs.bytes],
        ["isolate bundles", r.artifacts.isolateBundles.count, r.artifacts.isolateBundles.bytes],
        ["artifact leftovers", r.artifacts.debris.count, r.artifacts.debris.bytes],
      ];
      console.log(table(["", "count", "size"], rows.map(([what, n, size]) => [what, n, size === undefined ? undefined : bytes(size)])));
      for (const ref of r.images) console.log(`  ${ref}`);
      if (r.inUseKept) console.log(`Kept ${r.inUseKept} unreferenced layer(s) a running instance or build still uses.`);
      if (r.artifacts.recentKept) console.log(`Kept ${r.artifacts.recentKept} unreferenced artifact(s) stored in the last minutes (a deploy may be about to use them).`);
      if (r.sharedLayout) console.log("The image store is shared (STRATA_IMAGES outside STRATA_HOME): no image was removed, only unreachable data.");
      console.log(`${verb} ${bytes(r.bytesFreed)}${r.dryRun && r.buildah.images.length ? " (plus buildah's images, measured when removed)" : ""} in ${(r.durationMs / 1000).toFixed(1)} s.`);
    });
}
