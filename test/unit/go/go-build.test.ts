import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { GoBuilder } from "../../../src/build/go/builder.js";
import { StrataError } from "../../../src/errors.js";
import { exec } from "../../../src/system/exec.js";
import { imageToolsMissing } from "../images/shared-store.js";
import { assertStandardImage, buildContext, sourceCopy } from "../buildpacks/build-harness.js";
import { detectAppKind, type DetectSpec } from "../../../src/build/detect.js";

const missing = await imageToolsMissing();
const FIXTURES = new URL("../../fixtures/apps/", import.meta.url).pathname;
const EXAMPLE = new URL("../../../examples/go-app/", import.meta.url).pathname;
const builder = new GoBuilder();

/** Detection is build/detect.ts's alone: whether it picks this builder's kind (go) for a folder. */
const detectsAs = async (dir: string, spec: DetectSpec): Promise<boolean> => (await detectAppKind(dir, spec)) === "go";

test("go detection: go.mod, or app.yaml runtime go/go1xx", async (t) => {
  assert.equal(await detectsAs(join(FIXTURES, "go-hello"), {}), true);
  assert.equal(await detectsAs(EXAMPLE, { runtime: "go119" }), true);
  assert.equal(await detectsAs(join(FIXTURES, "go-hello"), { runtime: "python311" }), false);
  const other = await sourceCopy(t, join(FIXTURES, "python-wheel"));
  assert.equal(await detectsAs(other, {}), false);
  assert.equal(await detectsAs(other, { runtime: "go" }), true);
});

test("a net/http app builds into an image holding only the static binary and CA certificates", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const ctx = buildContext(t, join(FIXTURES, "go-hello"), { runtime: "go119" });
  const result = await builder.build(ctx);
  assert.equal(result.runtime, "go119");
  const image = await ctx.layout.resolve(result.image.ref!);
  assert.deepEqual(image.config.config.Entrypoint, ["/app/server"]);
  assert.equal(image.config.config.User, "65534:65534", "runs as nobody");
  const inspect = await assertStandardImage(ctx, result.image.ref!);
  assert.equal(inspect.Layers.length, 1, "one layer, no base image");
  const blob = ctx.layout.blobPath(image.manifest.layers[0]!.digest);
  const files = (await exec(["tar", "--list", "--file", blob])).stdout.split("\n").filter((f) => f && !f.endsWith("/"));
  assert.deepEqual(files.sort(), ["./app/server", "./etc/group", "./etc/passwd", "./etc/ssl/certs/ca-certificates.crt"]);
  // Static: no ELF interpreter (the image has no libc to load one from).
  const header = (await exec(["tar", "--extract", "--to-stdout", "--file", blob, "./app/server"], { maxOutputBytes: 64 << 20 })).stdout;
  assert.ok(header.startsWith("\x7fELF"));
  assert.ok(!header.includes("/lib64/ld-linux"), "no dynamic loader requested");
  assert.ok(result.sizeBytes < 20e6, `image is ${result.sizeBytes} bytes`);
});

test("a module that cannot be fetched fails the build, naming it and saying how to vendor it", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const ctx = buildContext(t, join(FIXTURES, "go-missing-module"), {});
  await assert.rejects(builder.build(ctx), (err: unknown) => {
    assert.ok(err instanceof StrataError);
    assert.equal(err.code, "BUILD_FAILED");
    assert.match(err.message, /example\.com\/unfetchable/);
    assert.match(err.message, /go mod vendor/);
    return true;
  });
});

test("app.yaml main: names a package below the module root; a path outside it is refused", { skip: missing ?? false }, async (t) => {
  const ctx = buildContext(t, join(FIXTURES, "go-vendored"), { runtime: "go119", main: "../elsewhere" });
  await assert.rejects(builder.build(ctx), /must be a package path inside the module/);
  const ctx2 = buildContext(t, join(FIXTURES, "go-vendored"), { runtime: "go119", main: "./cmd/nothing" });
  await assert.rejects(builder.build(ctx2), /is not a folder of the app/);
});
