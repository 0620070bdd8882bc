import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { DockerfileBuilder } from "../../../src/build/dockerfile/index.js";
import { dockerContext, fileHome, layerFiles, missing, readableImage, sourceDir } from "./harness.js";

const FIXTURE = fileURLToPath(new URL("../../fixtures/apps/docker-multistage/", import.meta.url));
const home = missing ? undefined : await fileHome();

test("a multi-stage build ships only its final stage: a Go binary on debian, far below the Go build stage", { skip: missing ?? false, timeout: 30 * 60_000 }, async (t) => {
  const ctx = dockerContext(t, home!, await sourceDir(t, {}, FIXTURE));
  const result = await new DockerfileBuilder().build(ctx);
  assert.ok(ctx.lines.some((l) => l.startsWith("[1/2] STEP 4/4: RUN go build")), "multi-stage steps are logged with their stage");

  const image = await readableImage(ctx, result.image.ref!);
  const debian = await ctx.layout.resolve((await ctx.catalog.ensure("debian:bookworm")).ref!);
  const golang = await ctx.layout.resolve((await ctx.catalog.ensure("golang:1.19")).ref!);
  assert.equal(image.manifest.layers[0]?.digest, debian.manifest.layers[0]?.digest, "the final stage builds on debian:bookworm");
  assert.deepEqual(await layerFiles(ctx, image, -1), ["usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/server"]);
  // The build stage is the golang image plus the build; the final image is smaller than its base alone.
  const golangSize = golang.manifest.layers.reduce((n, l) => n + l.size, 0);
  assert.ok(result.sizeBytes < golangSize / 3, `final image ${result.sizeBytes} B vs golang build stage base ${golangSize} B`);
  assert.equal(image.config.config.User, "nobody");
  assert.deepEqual(image.config.config.Entrypoint, ["/usr/local/bin/server"]);
  assert.equal(result.port, 8080);
});
