import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { lineSplitter } from "../../images/index.js";
import { appImageRef, type ImageBuild, type ImageBuildContext, type ImageBuildResult } from "../image-builder.js";
import { BaseImages } from "./base-images.js";
import { Buildah, BUILD_RUNTIME } from "./buildah.js";
import { exposedPort } from "./exposed-port.js";
import { exportImage } from "./export.js";
import { baseImageUses } from "./from-lines.js";
import { RunIsolation, type RunLimits } from "./run-isolation.js";
import { StepLog, type StepRecord } from "./step-log.js";

/**
 * Apps that ship a Dockerfile, built as Fly.io, Cloud Run and Dokku build them: by a real Dockerfile
 * builder (buildah, daemonless) with its step cache, FROM resolved against Strata's local image catalog,
 * RUN steps in their own network namespace and cgroup, and the result stored in Strata's OCI layout under
 * `apps/<app>:<version>` with its config (Entrypoint, Cmd, Env, User, WorkingDir, ExposedPorts,
 * Healthcheck) as the Dockerfile set it.
 */
export interface DockerfileBuilderOptions {
  /** Limits on a build's RUN steps (memory per step, processes of all steps together). */
  limits?: Partial<RunLimits>;
  /** Registry hosts a FROM may pull from with skopeo (e.g. `registry.example.com:5000`); none by default. */
  registries?: readonly string[];
}

export interface DockerfileBuildResult extends ImageBuildResult {
  /** Every Dockerfile step buildah ran, with whether it came from the cache. */
  steps: StepRecord[];
  /** The image's one exposed TCP port, if it exposes exactly one (see exposedPort). */
  port: number | undefined;
}

const DEFAULT_LIMITS: RunLimits = { memoryBytes: 4 * 1024 ** 3, pids: 4096 };
const BUILD_TIMEOUT_MS = 60 * 60_000;
/** Lines of a failed step's output carried in the error message. */
const ERROR_OUTPUT_LINES = 15;

export class DockerfileBuilder implements ImageBuild {
  readonly name = "dockerfile";
  private readonly limits: RunLimits;
  private readonly registries: readonly string[];

  constructor(opts: DockerfileBuilderOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.registries = opts.registries ?? [];
  }

  async build(ctx: ImageBuildContext): Promise<DockerfileBuildResult> {
    const dockerfile = join(ctx.sourceDir, "Dockerfile");
    const buildah = new Buildah(ctx.home);
    await mkdir(buildah.runroot, { recursive: true });
    await new BaseImages(ctx.layout, ctx.catalog, buildah, this.registries).provide(baseImageUses(await readFile(dockerfile, "utf8")), ctx.log);

    const id = buildId(ctx.app, ctx.version);
    const steps = new StepLog(ctx.log);
    const imageId = await this.runBuild(buildah, `${ctx.home.tag}-${id}`, dockerfile, ctx.sourceDir, steps);
    const image = await exportImage(buildah, imageId, ctx.layout, appImageRef(ctx.app, ctx.version));

    const resolved = await ctx.layout.resolve(image.ref ?? image.digest);
    const sizeBytes = resolved.manifest.layers.reduce((n, l) => n + l.size, 0);
    const port = exposedPort(resolved.config.config);
    const cachedSteps = steps.steps.filter((s) => s.cached).length;
    ctx.log(
      `image ${image.ref} ${image.digest} (${(sizeBytes / 1e6).toFixed(1)} MB); ${cachedSteps} of ${steps.steps.length} steps from cache` +
        (port ? `; serves on port ${port}` : "") +
        (resolved.config.config.User ? `; runs as ${resolved.config.config.User}` : ""),
    );
    return { image, runtime: ctx.spec.runtime ?? "custom", cached: { dependencies: steps.allRunsCached }, sizeBytes, steps: steps.steps, port };
  }

  /** Runs `buildah build` in the build's isolation (named `<home tag>-<build id>`); returns the built image's id. */
  private async runBuild(buildah: Buildah, id: string, dockerfile: string, contextDir: string, steps: StepLog): Promise<string> {
    const iidFile = join(buildah.runroot, `${id}.iid`);
    const isolation = await RunIsolation.create(id, this.limits);
    const lines = lineSplitter((line) => steps.line(line));
    try {
      await buildah.run(
        [
          "build",
          "--pull=never", // every FROM was put in the storage beforehand (BaseImages)
          "--layers",
          // Docker's format keeps HEALTHCHECK, SHELL, STOPSIGNAL and ONBUILD, which OCI's has no field for.
          "--format",
          "docker",
          "--runtime",
          BUILD_RUNTIME,
          "--isolation",
          "oci",
          ...isolation.buildahArgs(),
          "--iidfile",
          iidFile,
          "--file",
          dockerfile,
          contextDir,
        ],
        { onOutput: (chunk) => lines.write(chunk), timeoutMs: BUILD_TIMEOUT_MS },
      );
      lines.flush();
      return (await readFile(iidFile, "utf8")).trim().replace(/^sha256:/, "");
    } catch (err) {
      lines.flush();
      throw buildFailed(steps, err);
    } finally {
      await isolation.destroy();
      await rm(iidFile, { force: true });
    }
  }
}

function buildFailed(steps: StepLog, err: unknown): StrataError {
  const step = steps.current;
  const stderr = (err as StrataError).details?.stderr;
  const reason = steps.errors.length ? steps.errors.join("\n") : typeof stderr === "string" && stderr ? stderr : (err as Error).message;
  const output = step?.output.slice(-ERROR_OUTPUT_LINES) ?? [];
  const where = step ? ` at step ${step.position}: ${step.instruction}` : "";
  return new StrataError(
    "BUILD_FAILED",
    `Dockerfile build failed${where}\n${reason}${output.length ? `\nstep output (last lines):\n${output.join("\n")}` : ""}`,
    { step: step?.position, instruction: step?.instruction, buildah: reason, output },
    { cause: err },
  );
}

/** The build id: `<app>-<version>-<random>`; its netns and cgroup are `strata-dockerfile-<home tag>-<build id>`. */
function buildId(app: string, version: string): string {
  const slug = `${app}-${version}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-").slice(0, 32);
  return `${slug}-${randomBytes(3).toString("hex")}`;
}
