import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, test } from "node:test";
import { ElixirBuilder } from "../../../src/build/elixir/index.js";
import { StrataError } from "../../../src/errors.js";
import { ensureBaseImages } from "../../support/base-images.js";
import { imageToolsMissing } from "../images/shared-store.js";
import { assertStandardImage, buildContext, runInImage, sourceCopy } from "../buildpacks/build-harness.js";

const missing = await imageToolsMissing();
const FIXTURES = new URL("../../fixtures/apps/", import.meta.url).pathname;
const EXAMPLE = new URL("../../../examples/elixir-app/", import.meta.url).pathname;
const builder = new ElixirBuilder();
const VERSIONS = [
  { runtime: "elixir114", elixir: /^1\.14\.\d+$/, otp: "25" },
  { runtime: "elixir118", elixir: /^1\.18\.\d+$/, otp: "27" },
  { runtime: "elixir120", elixir: /^1\.20\.\d+$/, otp: "29" },
];

before(async () => {
  if (!missing) await ensureBaseImages(VERSIONS.flatMap((v) => [v.runtime, `${v.runtime}-run`]));
}, { timeout: 30 * 60_000 });

for (const v of VERSIONS) {
  test(`runtime ${v.runtime}: the release runs on its run image, which has neither Elixir nor Erlang installed`, { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
    const ctx = buildContext(t, EXAMPLE, { runtime: v.runtime });
    const result = await builder.build(ctx);
    assert.equal(result.runtime, v.runtime);
    const image = await ctx.layout.resolve(result.image.ref!);
    const config = image.config.config;
    assert.deepEqual(config.Entrypoint, ["/app/bin/elixir_app", "start"]);
    assert.equal(config.User, "65534:65534", "runs as nobody");
    assert.ok(config.Env?.includes("RELEASE_DISTRIBUTION=none"));
    assert.ok(config.Env?.includes("RELEASE_TMP=/tmp"), "the release writes its runtime config outside read-only /app");
    await assertStandardImage(ctx, result.image.ref!);
    // erts from the release, the shared libraries from the run image: the VM starts and reports its versions.
    const out = await runInImage(ctx, image, ["/app/bin/elixir_app", "eval", "IO.puts(System.version() <> \" \" <> System.otp_release())"]);
    const [elixir, otp] = out.trim().split(" ");
    assert.match(elixir!, v.elixir);
    assert.equal(otp, v.otp);
    assert.equal((await runInImage(ctx, image, ["sh", "-c", "command -v elixir erl mix || echo none"])).trim(), "none");
  });
}

test("a hex dependency neither in deps/ nor a path dependency fails the build, naming it", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const ctx = buildContext(t, join(FIXTURES, "elixir-missing-dep"), {});
  await assert.rejects(builder.build(ctx), (err: unknown) => {
    assert.ok(err instanceof StrataError);
    assert.equal(err.code, "BUILD_FAILED");
    assert.match(err.message, /dependency :jason/);
    assert.match(err.message, /mix deps\.get/);
    return true;
  });
  assert.ok(ctx.lines.some((l) => /Could not find an SCM for dependency :jason/.test(l)), "mix's own output streams as progress");
});

test("a runtime older than mix.exs's elixir requirement fails the build, saying which runtime to use", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const dir = await sourceCopy(t, EXAMPLE);
  await writeFile(join(dir, "mix.exs"), (await readFile(join(dir, "mix.exs"), "utf8")).replace('elixir: "~> 1.14"', 'elixir: "~> 1.18"'));
  const ctx = buildContext(t, dir, { runtime: "elixir114" });
  await assert.rejects(builder.build(ctx), (err: unknown) => {
    assert.ok(err instanceof StrataError);
    assert.equal(err.code, "BUILD_FAILED");
    assert.match(err.message, /mix\.exs asks for Elixir ~> 1\.18, and the build image has Elixir 1\.14\.\d+/);
    assert.match(err.message, /elixir118/);
    return true;
  });
});
