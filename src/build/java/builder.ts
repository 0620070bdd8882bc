import { randomBytes } from "node:crypto";
import { chmod, copyFile, mkdir, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { StrataError } from "../../errors.js";
import { chooseLanguageImage, describeChoice, RUNS_LABEL, runtimeId } from "../../images/index.js";
import { BUILD_CACHE_LABEL, type ImageBuild, type ImageBuildContext, type ImageBuildResult } from "../image-builder.js";
import { mergeEnv, writeBuildpackImage } from "../buildpack/app-image.js";
import { startCommand } from "../buildpack/entrypoint.js";
import { layersOf } from "../buildpack/layers.js";
import { exists, readIfExists } from "../buildpack/source.js";
import { stepWorkDir } from "../buildpack/work-dirs.js";
import { gradleUnsupported } from "./gradle.js";
import { mavenPackage } from "./maven.js";
import { askedJavaVersion } from "./version.js";

/**
 * Java apps without a Dockerfile, built as App Engine's Java runtimes build them: `mvn package` (maven.ts)
 * in the JDK image of the Java version asked for (app.yaml `runtime: javaNN`, else the pom's release;
 * the nearest newer where no Debian suite has it), and the runnable jar (Spring Boot's fat jar, or one
 * whose manifest names a Main-Class) on the matching JRE-only image, started with `java -jar` unless
 * app.yaml `entrypoint` (or a Procfile) says otherwise. The app reads PORT (Spring Boot:
 * `server.port=${PORT:8080}`).
 */
export class JavaBuilder implements ImageBuild {
  readonly name = "java";

  async build(ctx: ImageBuildContext): Promise<ImageBuildResult> {
    const pom = await readIfExists(join(ctx.sourceDir, "pom.xml"));
    if (pom === null) {
      for (const file of ["build.gradle.kts", "build.gradle"]) if (await exists(join(ctx.sourceDir, file))) throw await gradleUnsupported(ctx.sourceDir, file);
      throw new StrataError("BUILD_FAILED", "a Java app needs a pom.xml at its root (Maven): Strata builds Java apps with `mvn package`");
    }
    const asked = askedJavaVersion(ctx.spec.runtime, pom);
    const choice = chooseLanguageImage("java", asked);
    const jdkName = choice.recipe.builder;
    if (jdkName === undefined) throw new StrataError("INTERNAL", `recipe ${choice.recipe.name} names no JDK image to build with`);
    const runtime = ctx.spec.runtime ?? runtimeId("java", choice.recipe.runs.version);
    const jreRef = await ctx.catalog.ensure(choice.recipe.name, ctx.log);
    const jdkRef = await ctx.catalog.ensure(jdkName, ctx.log);
    const jre = await ctx.layout.resolve(jreRef.ref ?? jreRef.digest);
    const jdk = await ctx.layout.resolve(jdkRef.ref ?? jdkRef.digest);
    const runs = describeChoice(choice, jre.config.config.Labels?.[RUNS_LABEL]);
    ctx.log(`${ctx.spec.runtime ? `runtime ${runtime}` : asked ? `pom.xml's Java ${asked}` : "no Java version stated"}: ${runs} (built with ${jdkName})`);

    const work = stepWorkDir(ctx.home, `${ctx.app}-${ctx.version}-java-${randomBytes(3).toString("hex")}`.replace(/[^A-Za-z0-9_.-]/g, "-"));
    try {
      await mkdir(work, { recursive: true, mode: 0o755 });
      const built = await mavenPackage(ctx, layersOf(jdk), jdk.config.config.Env ?? [], join(work, "out"));
      const start = await startCommand(ctx.sourceDir, ctx.spec, `java -jar /app/${basename(await theRunnableJar(built.jars, ctx.spec.entrypoint))}`);
      ctx.log(`start command (${start.source}): ${start.command}`);
      const staging = join(work, "layer");
      await mkdir(join(staging, "app"), { recursive: true, mode: 0o755 });
      for (const jar of built.jars) {
        await copyFile(jar, join(staging, "app", basename(jar)));
        await chmod(join(staging, "app", basename(jar)), 0o644);
      }
      const layer = await ctx.layout.addLayerFromDir(staging);
      const jreLayers = layersOf(jre);
      const { image, sizeBytes } = await writeBuildpackImage(
        ctx,
        [...jreLayers.map((l) => ({ layer: l, createdBy: `base image ${jreRef.ref}` })), { layer, createdBy: `mvn package: ${built.jars.map((j) => basename(j)).join(", ")} in /app` }],
        runtime,
        mergeEnv(jre.config.config.Env ?? [], ["PORT=8080"]),
        start.entrypoint,
        { [RUNS_LABEL]: runs, [BUILD_CACHE_LABEL]: built.cacheRef },
      );
      return { image, runtime, runs, cached: { dependencies: built.cached }, sizeBytes };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** The one runnable jar `java -jar` starts; with several, app.yaml `entrypoint` must say which. */
function theRunnableJar(jars: readonly string[], entrypoint: string | undefined): string {
  if (jars.length === 1 || (jars.length > 1 && entrypoint?.trim())) return jars[0]!;
  if (jars.length === 0) {
    throw new StrataError(
      "BUILD_FAILED",
      "mvn package made no runnable jar in target/ (none has a Main-Class in its manifest). To fix: add the spring-boot-maven-plugin (Spring Boot), " +
        "or set <mainClass> in the maven-jar-plugin's manifest configuration (with the dependencies shaded in by the maven-shade-plugin), or give app.yaml an entrypoint",
    );
  }
  throw new StrataError(
    "BUILD_FAILED",
    `mvn package made several runnable jars (${jars.map((j) => basename(j)).join(", ")}): set app.yaml \`entrypoint: java -jar /app/NAME.jar\` to say which to start`,
  );
}
