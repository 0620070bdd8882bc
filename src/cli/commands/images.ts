import type { Command } from "commander";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { StrataError } from "../../errors.js";
import { ApiClient } from "../client.js";
import { ago, bytes, table } from "../render.js";

interface ImageOut {
  name: string;
  aliases: string[];
  kind: string;
  describes?: string;
  built: boolean;
  digest?: string;
  sizeBytes?: number;
  created?: string;
}

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
          ["name", "kind", "built", "digest", "size", "also known as", "contents"],
          list.map((i) => [
            i.name,
            i.kind,
            i.built ? (i.created ? ago(i.created) : "yes") : "on first use",
            i.digest?.slice(0, 19),
            i.sizeBytes === undefined ? undefined : bytes(i.sizeBytes),
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
}
