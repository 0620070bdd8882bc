import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { detectAppKind } from "../../../src/build/detect.js";
import { askedElixirVersion } from "../../../src/build/elixir/index.js";
import { StrataError } from "../../../src/errors.js";
import { chooseLanguageImage, describeChoice, upstreamVersion } from "../../../src/images/language-image.js";
import { findRecipe } from "../../../src/images/recipes.js";
import { runtimeLanguage } from "../../../src/config/index.js";
import { sourceCopy } from "../buildpacks/build-harness.js";

const FIXTURES = new URL("../../fixtures/apps/", import.meta.url).pathname;
const EXAMPLE = new URL("../../../examples/elixir-app/", import.meta.url).pathname;

test("elixir detection: a mix.exs, or app.yaml runtime elixir/elixir1NN", async (t) => {
  assert.equal(await detectAppKind(EXAMPLE, {}), "elixir");
  assert.equal(await detectAppKind(join(FIXTURES, "elixir-vendored"), {}), "elixir");
  assert.equal(await detectAppKind(EXAMPLE, { runtime: "python311" }), "python");
  const other = await sourceCopy(t, join(FIXTURES, "python-wheel"));
  assert.equal(await detectAppKind(other, {}), "python");
  assert.equal(await detectAppKind(other, { runtime: "elixir118" }), "elixir");
  assert.equal(runtimeLanguage("elixir"), "elixir");
  assert.throws(() => runtimeLanguage("elixir113x"), /unknown runtime/);
});

test("the Elixir version asked: runtime elixir1NN first, else the lowest mix.exs's elixir requirement allows", () => {
  const mix = (req: string): string => `def project do\n  [app: :a, version: "0.1.0", elixir: "${req}", deps: []]\nend`;
  assert.equal(askedElixirVersion("elixir118", mix("~> 1.14")), "1.18");
  assert.equal(askedElixirVersion(undefined, mix("~> 1.15")), "1.15");
  assert.equal(askedElixirVersion("elixir", mix(">= 1.16.2")), "1.16");
  assert.equal(askedElixirVersion(undefined, "[app: :a, deps: []]"), undefined);
});

test("elixir images: the exact minor or the nearest newer suite's, said so; newer than every suite is refused", () => {
  assert.equal(chooseLanguageImage("elixir", undefined).recipe.name, "elixir114");
  assert.equal(chooseLanguageImage("elixir", "1.14").recipe.name, "elixir114");
  const nearest = chooseLanguageImage("elixir", "1.15");
  assert.equal(nearest.recipe.name, "elixir118");
  assert.equal(nearest.exact, false);
  assert.equal(describeChoice(nearest, "1.18.3"), "Elixir 1.18.3 (nearest newer: no Debian suite carries Elixir 1.15)");
  assert.equal(chooseLanguageImage("elixir", "1.18").recipe.name, "elixir118");
  assert.equal(chooseLanguageImage("elixir", "1.19").recipe.name, "elixir120");
  assert.equal(chooseLanguageImage("elixir", "1.20").exact, true);
  assert.throws(() => chooseLanguageImage("elixir", "1.21"), (err: unknown) => {
    assert.ok(err instanceof StrataError);
    assert.equal(err.code, "UNSUPPORTED_RUNTIME");
    assert.match(err.message, /elixir114 \(Elixir 1\.14\), elixir118 \(Elixir 1\.18\), elixir120 \(Elixir 1\.20\)/);
    return true;
  });
  // Each build image has its run image, of the same suite (the release's erts links against that suite's libraries).
  for (const name of ["elixir114", "elixir118", "elixir120"]) {
    const build = findRecipe(name);
    const run = findRecipe(`${name}-run`);
    assert.ok(build?.kind === "debian" && run?.kind === "debian");
    assert.equal(run.suite, build.suite);
    assert.equal(run.runs, undefined, "a run image is never picked as a language image");
  }
  // Debian repacks Elixir (.dfsg): the exact version is upstream's.
  assert.equal(upstreamVersion("1.14.0.dfsg-2"), "1.14.0");
  assert.equal(upstreamVersion("1.20.4+dfsg-1"), "1.20.4");
});
