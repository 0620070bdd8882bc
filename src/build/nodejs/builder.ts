import { join } from "node:path";
import { StrataError } from "../../errors.js";
import type { Layer } from "../../images/index.js";
import type { ImageBuild, ImageBuildContext, ImageBuildResult } from "../image-builder.js";
import { mergeEnv, sourceLayer, writeBuildpackImage, type DescribedLayer } from "../buildpack/app-image.js";
import { startCommand } from "../buildpack/entrypoint.js";
import { layersOf, runStepLayer } from "../buildpack/layers.js";
import { copySource, readSourceFile } from "../buildpack/source.js";
import { appInstallScripts, lockfileOf, nodeDependencyLayer, NPM_ENV, runNpm, type PackageJson } from "./deps.js";
import { chooseNodeImage } from "./node-image.js";

/**
 * Node.js apps without a Dockerfile, built like App Engine Standard's nodejs runtimes: the base image of
 * the app's Node.js major (node-image.ts: app.yaml runtime, else package.json engines.node), a
 * node_modules layer cached by the lockfile (`npm ci --omit=dev`, dependency install scripts included, in
 * the sandbox deps.ts describes), the source under /app, and, when package.json has them, the app's own
 * install scripts (postinstall, prepare, ...) and its `build` script run there over the full dependency
 * set, followed by `npm prune --omit=dev` (the pruned packages become whiteouts in the app layer). Starts with app.yaml
 * `entrypoint`, a Procfile `web:` line, `npm start` when scripts.start exists, else `node server.js`.
 */
const SOURCE_EXCLUDES = ["node_modules", ".git"];

export class NodeBuilder implements ImageBuild {
  readonly name = "nodejs";

  async build(ctx: ImageBuildContext): Promise<ImageBuildResult> {
    const packageText = await readSourceFile(ctx.sourceDir, "package.json");
    const pkg = packageText === null ? {} : parsePackageJson(packageText);
    const choice = chooseNodeImage(ctx.spec.runtime, enginesNode(pkg));
    if (choice.warning) ctx.log(`warning: ${choice.warning}`);
    ctx.log(`Node.js ${choice.image.node} (base image ${choice.image.image}), chosen by ${choice.reason}`);
    const runtime = choice.runtime;
    const baseRef = await ctx.catalog.ensure(choice.image.image, ctx.log);
    const base = await ctx.layout.resolve(baseRef.ref ?? baseRef.digest);
    const baseLayers = layersOf(base);
    const described: DescribedLayer[] = baseLayers.map((layer) => ({ layer, createdBy: `base image ${baseRef.ref}` }));

    const buildScript = Boolean(pkg.scripts?.build);
    const installScripts = appInstallScripts(pkg, await readSourceFile(ctx.sourceDir, ".npmrc"));
    const sourceStep = buildScript || installScripts.length > 0;
    const prod = Object.keys(pkg.dependencies ?? {}).length;
    const dev = Object.keys(pkg.devDependencies ?? {}).length;
    const includeDev = sourceStep && dev > 0;
    let cached = false;
    if (packageText !== null && (prod > 0 || includeDev)) {
      const deps = await nodeDependencyLayer(ctx, baseLayers, {
        packageJson: packageText,
        lockfile: await lockfileOf(ctx.sourceDir),
        includeDev,
      });
      described.push({ layer: deps.layer, createdBy: includeDev ? "npm ci" : "npm ci --omit=dev" });
      cached = deps.cached;
    } else {
      ctx.log("dependencies: package.json declares none; skipping npm");
    }

    const scripts = [...installScripts, ...(buildScript ? ["build"] : [])];
    const app = sourceStep
      ? await this.sourceStepLayer(ctx, described.map((d) => d.layer), scripts, includeDev)
      : await sourceLayer(ctx, SOURCE_EXCLUDES);
    described.push({ layer: app, createdBy: sourceStep ? `app source in /app, npm run ${scripts.join(", ")}` : "app source in /app" });

    const start = await startCommand(ctx.sourceDir, ctx.spec, pkg.scripts?.start ? "npm start" : "node server.js");
    ctx.log(`start command (${start.source}): ${start.command}`);
    const baseEnv = base.config.config.Env ?? [];
    const path = baseEnv.find((e) => e.startsWith("PATH="))?.slice("PATH=".length) ?? "/usr/bin:/bin";
    const { image, sizeBytes } = await writeBuildpackImage(
      ctx,
      described,
      runtime,
      mergeEnv(baseEnv, [`PATH=/app/node_modules/.bin:${path}`, "PORT=8080", "NODE_ENV=production", ...NPM_ENV]),
      start.entrypoint,
    );
    return { image, runtime, cached: { dependencies: cached }, sizeBytes };
  }

  /**
   * Source, then the app's own install scripts (postinstall, prepare, ... in npm's order) and `build`, then
   * the prune of devDependencies, in one step over base and dependencies. Each script runs alone
   * (`--ignore-scripts` keeps `npm run install` from running pre/postinstall a second time). The step runs
   * as root, as a Dockerfile RUN does, with the same outbound-only network as the dependency step.
   */
  private async sourceStepLayer(ctx: ImageBuildContext, below: readonly Layer[], scripts: readonly string[], pruneDev: boolean): Promise<Layer> {
    return runStepLayer(
      ctx,
      { purpose: "build", below, mounts: [], network: "outbound", env: ["PATH=/app/node_modules/.bin:/usr/local/bin:/usr/bin:/bin", ...NPM_ENV] },
      async (step) => {
        await copySource(ctx.sourceDir, join(step.rootfs, "app"), SOURCE_EXCLUDES);
        for (const script of scripts) {
          await runNpm(step, { argv: ["npm", "run", "--ignore-scripts", script], cwd: "/app" }, script === "build" ? "build the app" : `run the app's ${script} script`);
        }
        if (pruneDev) await runNpm(step, { argv: ["npm", "prune", "--omit=dev", "--offline", "--ignore-scripts"], cwd: "/app" }, "remove devDependencies");
      },
    );
  }
}

/** package.json `engines.node`, when it is a string (npm ignores other shapes, and so does the build). */
function enginesNode(pkg: PackageJson): string | undefined {
  const node = pkg.engines?.node;
  return typeof node === "string" ? node : undefined;
}

function parsePackageJson(text: string): PackageJson {
  try {
    return JSON.parse(text) as PackageJson;
  } catch (err) {
    throw new StrataError("BUILD_FAILED", `package.json is not valid JSON: ${(err as Error).message}`, undefined, { cause: err });
  }
}
