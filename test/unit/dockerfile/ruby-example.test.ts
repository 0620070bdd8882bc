import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { DockerfileBuilder, type ImageConfigWithHealthcheck } from "../../../src/build/dockerfile/index.js";
import { runInImage } from "../buildpacks/build-harness.js";
import { dockerContext, fileHome, layerFiles, missing, readableImage, sourceDir } from "./harness.js";
import { detectAppKind, type DetectSpec } from "../../../src/build/detect.js";

const RUBY_APP = fileURLToPath(new URL("../../../examples/ruby-app/", import.meta.url));
const home = missing ? undefined : await fileHome();
const opts = { skip: missing ?? false, timeout: 20 * 60_000 };

/** Detection is build/detect.ts's alone: whether it picks this builder's kind (docker) for a folder. */
const detectsAs = async (dir: string, spec: DetectSpec): Promise<boolean> => (await detectAppKind(dir, spec)) === "docker";

test("the Dockerfile builder detects a Dockerfile at the source root", async (t) => {
  assert.equal(await detectsAs(RUBY_APP, {}), true);
  assert.equal(await detectsAs(await sourceDir(t, { "main.py": "" }), {}), false);
});

test("the ruby example builds into the layout with the image config its Dockerfile sets", opts, async (t) => {
  const ctx = dockerContext(t, home!, await sourceDir(t, {}, RUBY_APP));
  const result = await new DockerfileBuilder().build(ctx);
  assert.equal(result.image.ref, `apps/${ctx.app}:v1`);
  assert.equal(result.port, 8080);
  assert.equal(result.runtime, "custom");

  const image = await readableImage(ctx, result.image.ref!);
  assert.equal(image.manifestDigest, result.image.digest);
  const config = (image.config as ImageConfigWithHealthcheck).config;
  assert.deepEqual(config.Cmd, ["ruby", "app.rb"]);
  assert.equal(config.User, "nobody");
  assert.equal(config.WorkingDir, "/app");
  assert.deepEqual(config.ExposedPorts, { "8080/tcp": {} });
  assert.ok(config.Env?.includes("PORT=8080") && config.Env.includes("RACK_ENV=production"), String(config.Env));
  assert.deepEqual(config.Healthcheck?.Test, ["CMD", "ruby", "/app/healthcheck.rb"]);
  assert.equal(config.Healthcheck?.Interval, 10e9);

  // Layers: the catalog's ruby base image shared as is, then the Dockerfile's.
  const base = await ctx.layout.resolve((await ctx.catalog.ensure("ruby:3.1")).ref!);
  assert.equal(image.manifest.layers[0]?.digest, base.manifest.layers[0]?.digest);
  const app = await layerFiles(ctx, image, -1);
  assert.ok(app.includes("app/app.rb"), app.join(" "));
  for (const ignored of ["app/README.md", "app/app.yaml"]) assert.ok(!app.includes(ignored), `.dockerignore leaves out ${ignored}`);

  // Strata's own layer unpacking (what the runc driver runs from) reads the image: the app's code loads.
  const loaded = await runInImage(ctx, image, ["ruby", "-e", 'require "rack/handler/webrick"; load "/app/healthcheck.rb" rescue puts "loaded: #{$!.class}"']);
  assert.match(loaded, /loaded: Errno::ECONNREFUSED/);

  assert.ok(ctx.lines.some((l) => l.startsWith("STEP 3/9: RUN ruby")), "steps stream through ctx.log");
  assert.ok(ctx.lines.some((l) => /^rack 2\.2/.test(l)), "a RUN step's output streams through ctx.log");
});

test("a rebuild with only code changed reuses the steps before the COPY", opts, async (t) => {
  const src = await sourceDir(t, {}, RUBY_APP);
  const builder = new DockerfileBuilder();
  const first = dockerContext(t, home!, src, "v1");
  await builder.build(first);

  await appendFile(join(src, "app.rb"), "\n# a code change\n");
  const second = dockerContext(t, home!, src, "v2");
  const result = await builder.build(second);
  const cached = result.steps.filter((s) => s.cached).map((s) => s.instruction.split(" ")[0]);
  assert.deepEqual(cached, ["WORKDIR", "RUN", "ENV", "EXPOSE"], second.lines.join("\n"));
  const copy = result.steps.find((s) => s.instruction.startsWith("COPY"));
  assert.equal(copy?.cached, false, "the changed code is copied again");
  assert.equal(result.cached.dependencies, true, "no RUN step ran again");
  assert.ok(second.lines.some((l) => l.startsWith("--> Using cache") && l.includes("cached step 3/9: RUN")), "cached steps are marked in the log");
});
