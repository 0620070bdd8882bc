import { chmod, mkdir, rm, writeFile, copyFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { chooseLanguageImage, describeChoice, type Layer, RUNS_LABEL, runtimeId } from "../../images/index.js";
import type { ImageBuild, ImageBuildContext, ImageBuildResult } from "../image-builder.js";
import { mergeEnv, sourceLayer, writeBuildpackImage } from "../buildpack/app-image.js";
import { layersOf } from "../buildpack/layers.js";
import { exists, resolveInSource } from "../buildpack/source.js";
import { stepWorkDir } from "../buildpack/work-dirs.js";
import { fpmConf, frontController, nginxConf, SERVING_DIR, START, startScript, type FrontController } from "./serving.js";
import { checkVendored } from "./vendor.js";

/** Left out of the /app layer. */
const SOURCE_EXCLUDES = [".git"];

/**
 * PHP apps, served as App Engine's PHP runtime serves them: nginx in front of php-fpm, the PHP of
 * app.yaml `runtime: php82|php84` (Debian's, from bookworm or trixie), the front controller from app.yaml
 * `entrypoint` (`serve public/index.php`, or just the path) or else public/index.php or index.php, static
 * files sent by nginx, a php.ini at the app's root added to PHP's own settings, and Composer packages
 * from the app's vendor/ (checked, never fetched: vendor.ts).
 */
export class PhpBuilder implements ImageBuild {
  readonly name = "php";

  async build(ctx: ImageBuildContext): Promise<ImageBuildResult> {
    const choice = chooseLanguageImage("php", askedPhpVersion(ctx.spec.runtime));
    const version = choice.recipe.runs.version;
    const runtime = ctx.spec.runtime ?? runtimeId("php", version);
    const vendored = await checkVendored(ctx.sourceDir);
    if (vendored.length) ctx.log(`Composer packages from vendor/: ${vendored.join(", ")}`);
    const front = await findFrontController(ctx.sourceDir, ctx.spec.entrypoint);
    ctx.log(`front controller ${front.script}, static files from ${front.docroot}`);
    const baseRef = await ctx.catalog.ensure(choice.recipe.name, ctx.log);
    const base = await ctx.layout.resolve(baseRef.ref ?? baseRef.digest);
    const runs = describeChoice(choice, base.config.config.Labels?.[RUNS_LABEL]);
    ctx.log(`runtime ${runtime}: ${runs}`);
    const baseLayers = layersOf(base);
    const app = await sourceLayer(ctx, SOURCE_EXCLUDES);
    const phpIni = (await exists(join(ctx.sourceDir, "php.ini"))) ? join(ctx.sourceDir, "php.ini") : null;
    if (phpIni) ctx.log("php.ini: added to PHP's settings");
    const serving = await servingLayer(ctx, version, front, phpIni);
    const { image, sizeBytes } = await writeBuildpackImage(
      ctx,
      [
        ...baseLayers.map((layer) => ({ layer, createdBy: `base image ${baseRef.ref}` })),
        { layer: app, createdBy: "app source in /app" },
        { layer: serving, createdBy: `nginx and php-fpm ${version} configuration in ${SERVING_DIR}` },
      ],
      runtime,
      mergeEnv(base.config.config.Env ?? [], ["PORT=8080"]),
      ["/bin/sh", START],
    );
    return { image, runtime, runs, cached: { dependencies: false }, sizeBytes };
  }
}

/** The PHP version app.yaml's runtime names (php84 → 8.4); none for `php` or no runtime. */
export function askedPhpVersion(runtime: string | undefined): string | undefined {
  const m = /^php(\d)(\d+)$/.exec(runtime ?? "");
  return m ? `${m[1]}.${m[2]}` : undefined;
}

/** app.yaml `entrypoint: serve <script>` (App Engine's form) or a bare script path; else the default files. */
async function findFrontController(sourceDir: string, entrypoint: string | undefined): Promise<FrontController> {
  const asked = entrypoint?.trim().replace(/^serve\s+/, "");
  const candidates = asked ? [asked] : ["public/index.php", "index.php"];
  for (const rel of candidates) {
    if (!/\.php$/.test(rel) || /\s/.test(rel)) {
      throw new StrataError("INVALID_CONFIG", `app.yaml entrypoint "${entrypoint}": a PHP app's entrypoint is its front controller, e.g. \`serve public/index.php\``);
    }
    const found = await resolveInSource(sourceDir, rel);
    if (found) return frontController(rel.replace(/^\.?\//, ""));
  }
  throw new StrataError(
    "BUILD_FAILED",
    asked ? `the front controller ${asked} (app.yaml entrypoint) is not in the app` : "a PHP app needs a front controller: public/index.php or index.php, or app.yaml `entrypoint: serve <script>.php`",
  );
}

/** /strata (nginx.conf, php-fpm.conf, start) and the app's php.ini in php-fpm's conf.d. */
async function servingLayer(ctx: ImageBuildContext, version: string, front: FrontController, phpIni: string | null): Promise<Layer> {
  const staging = stepWorkDir(ctx.home, `${ctx.app}-${ctx.version}-php-${randomBytes(3).toString("hex")}`);
  try {
    const dir = join(staging, SERVING_DIR.slice(1));
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(join(dir, "nginx.conf"), nginxConf(front), { mode: 0o644 });
    await writeFile(join(dir, "php-fpm.conf"), fpmConf(), { mode: 0o644 });
    await writeFile(join(staging, START.slice(1)), startScript(`php-fpm${version}`), { mode: 0o755 });
    if (phpIni) {
      const confD = join(staging, "etc", "php", version, "fpm", "conf.d");
      await mkdir(confD, { recursive: true, mode: 0o755 });
      await copyFile(phpIni, join(confD, "99-app.ini"));
      await chmod(join(confD, "99-app.ini"), 0o644);
    }
    return await ctx.layout.addLayerFromDir(staging);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
