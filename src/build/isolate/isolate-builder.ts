import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import { touchIfPresent } from "../../system/fs.js";
import type { Builder, BuildOutput, BuildRequest } from "../builder.js";
import { build } from "./build.js";
import { detect } from "./detect.js";

/** Where bundles are kept, a directory each named by its digest's hex, so identical deploys share one. */
export function isolateBundlesDir(home: StrataHome): string {
  return join(home.artifacts, "isolate");
}

/** Workers and WASI apps: bundled with esbuild into a directory under isolateBundlesDir(). */
export class IsolateBuilder implements Builder {
  readonly name = "isolate";
  readonly kinds = ["workers"] as const;
  readonly produces = "isolate-bundle";

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
      let size = 0;
      for (const f of await readdir(out)) size += (await stat(join(out, f))).size;
      const dir = isolateBundlesDir(req.home);
      const final = join(dir, bundle.digest.replace(/^sha256:/, ""));
      await mkdir(dir, { recursive: true });
      // A bundle an earlier deploy left is reused and touched: the artifact GC spares what changed within
      // its grace period, so it stays until this version is recorded (artifacts/prune.ts).
      if (!(await touchIfPresent(final))) await rename(out, final);
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
