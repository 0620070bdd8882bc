import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import type { ArtifactBuilder, BuildOutput, BuildRequest } from "../artifact-builder.js";
import { build } from "./build.js";
import { detect } from "./detect.js";

/**
 * Workers and WASI apps: bundled with esbuild into a directory kept by its digest under
 * STRATA_HOME/artifacts/isolate, so two identical deploys share one bundle.
 */
export class IsolateBuilder implements ArtifactBuilder {
  readonly name = "isolate";
  readonly kinds = ["workers"] as const;

  async build(req: BuildRequest): Promise<BuildOutput> {
    const app = await detect(req.sourceDir);
    if (!app) {
      throw new StrataError(
        "BUILD_FAILED",
        "no worker entry found: add a wrangler.toml (or .json) with `main`, an app.yaml `entrypoint`, or an index.ts / src/index.ts that does `export default { fetch }`",
      );
    }
    const out = join(req.home.builds, `isolate-${randomBytes(6).toString("hex")}`);
    await mkdir(req.home.builds, { recursive: true });
    try {
      const bundle = await build(req.sourceDir, { outDir: out, onLog: req.log, app });
      const final = join(req.home.artifacts, "isolate", bundle.digest.replace(/^sha256:/, ""));
      await mkdir(join(req.home.artifacts, "isolate"), { recursive: true });
      const existing = await stat(final).catch(() => undefined);
      if (!existing) await rename(out, final);
      let size = 0;
      for (const f of await readdir(final)) size += (await stat(join(final, f))).size;
      return {
        artifact: { kind: "isolate-bundle", digest: bundle.digest, path: final },
        runtime: req.spec?.runtime ?? (app.kind === "wasi-cgi" ? "wasi" : "workers"),
        sizeBytes: size,
      };
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }
}
