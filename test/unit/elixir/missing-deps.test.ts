import assert from "node:assert/strict";
import { test } from "node:test";
import { missingDependencies, vendoringAdvice } from "../../../src/build/elixir/index.js";

// What Mix (1.14, no Hex installed, stdin closed) prints, captured from the build image.
const NO_SCM = `Could not find Hex, which is needed to build dependency :jason
Shall I install Hex? (if running non-interactively, use "mix local.hex --force") [Yn] ** (Mix) Could not find an SCM for dependency :jason from MissingDep.MixProject
`;
const UNCHECKED = `Unchecked dependencies for environment prod:
* greeter (vendor/greeter)
  the dependency is not available
* other (../other)
  the dependency is not available
** (Mix) Can't continue due to errors on dependencies
`;

test("a hex-form dependency no SCM claims is named, with how to vendor it", () => {
  const deps = missingDependencies(NO_SCM);
  assert.deepEqual(deps, [{ name: "jason", source: "hex" }]);
  const advice = vendoringAdvice(deps);
  assert.match(advice, /mix deps\.get/);
  assert.match(advice, /deps\/jason/);
  assert.match(advice, /\{:jason, path: "vendor\/jason"\}/);
});

test("missing path dependencies are named with where Mix looked", () => {
  const deps = missingDependencies(UNCHECKED);
  assert.deepEqual(deps, [
    { name: "greeter", source: "vendor/greeter", reason: "the dependency is not available" },
    { name: "other", source: "../other", reason: "the dependency is not available" },
  ]);
  assert.match(vendoringAdvice(deps), /:greeter \(vendor\/greeter\): the dependency is not available; a path dependency must be inside the app's folder/);
});

test("other failures are not mistaken for missing dependencies", () => {
  assert.deepEqual(missingDependencies("** (CompileError) lib/a.ex:3: undefined function foo/0"), []);
});
