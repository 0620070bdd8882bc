import assert from "node:assert/strict";
import { appendFile, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { NodeBuilder } from "../../../src/build/nodejs/builder.js";
import { exec } from "../../../src/system/exec.js";
import { imageToolsMissing, npmRegistryOrSkip } from "../images/shared-store.js";
import { assertStandardImage, buildContext, runInImage, sourceCopy } from "./build-harness.js";
import { detectAppKind, type DetectSpec } from "../../../src/build/detect.js";

const missing = await imageToolsMissing();
const FIXTURES = new URL("../../fixtures/apps/", import.meta.url).pathname;
const EXAMPLE = new URL("../../../examples/node-app/", import.meta.url).pathname;
const builder = new NodeBuilder();

/** Detection is build/detect.ts's alone: whether it picks this builder's kind (nodejs) for a folder. */
const detectsAs = async (dir: string, spec: DetectSpec): Promise<boolean> => (await detectAppKind(dir, spec)) === "nodejs";

test("node detection: package.json and app.yaml runtime", async () => {
  assert.equal(await detectsAs(EXAMPLE, {}), true);
  assert.equal(await detectsAs(EXAMPLE, { runtime: "python311" }), false);
  assert.equal(await detectsAs(join(FIXTURES, "python-wheel"), {}), false);
  assert.equal(await detectsAs(join(FIXTURES, "python-wheel"), { runtime: "nodejs20" }), true);
});

test("the node example (no npm dependencies) builds without npm into a runnable OCI image", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const ctx = buildContext(t, EXAMPLE, { runtime: "nodejs20" });
  const result = await builder.build(ctx);
  assert.equal(result.runtime, "nodejs20");
  assert.equal(result.cached.dependencies, false);
  assert.ok(ctx.lines.some((l) => /skipping npm/.test(l)));
  assert.ok(ctx.lines.some((l) => /^Node\.js 20\.\d+\.\d+ \(base image nodejs20\), chosen by app\.yaml runtime nodejs20$/.test(l)), ctx.lines.join("\n"));
  const image = await ctx.layout.resolve(result.image.ref!);
  assert.deepEqual(image.config.config.Entrypoint, ["/bin/sh", "-c", "exec npm start"]);
  assert.equal(image.config.config.User, "65534:65534");
  const inspect = await assertStandardImage(ctx, result.image.ref!);
  assert.equal(inspect.Layers.length, 3, "debian, Node.js and app: no dependency layer");
  const out = await runInImage(ctx, image, ["node", "-e", "require('/app/server.js'); console.log(process.version); process.exit(0)"], ["PORT=0"]);
  assert.match(out, /^v20\./m);
  assert.match(await runInImage(ctx, image, ["npm", "--version"], ["npm_config_cache=/tmp/.npm"]), /^10\./m);
});

test("without an app.yaml runtime, package.json engines.node picks the Node.js major", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const src = await sourceCopy(t, EXAMPLE);
  await rm(join(src, "app.yaml"));
  const pkg = JSON.parse(await readFile(join(src, "package.json"), "utf8")) as { engines: { node: string } };
  pkg.engines.node = ">=21";
  await writeFile(join(src, "package.json"), JSON.stringify(pkg));
  const ctx = buildContext(t, src, {});
  const result = await builder.build(ctx);
  assert.equal(result.runtime, "nodejs22");
  assert.ok(ctx.lines.some((l) => /base image nodejs22\), chosen by package\.json engines\.node ">=21"/.test(l)), ctx.lines.join("\n"));
  const image = await ctx.layout.resolve(result.image.ref!);
  assert.match(await runInImage(ctx, image, ["node", "-p", "process.version"]), /^v22\./m);
});

test("npm dependencies: cached by the lockfile, build script with devDependencies, pruned after", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  if (!(await npmRegistryOrSkip(t))) return;
  const src = await sourceCopy(t, join(FIXTURES, "node-build"));
  const ctx = buildContext(t, src, { runtime: "nodejs20" });
  const first = await builder.build(ctx);
  const image = await ctx.layout.resolve(first.image.ref!);
  assert.equal(image.manifest.layers.length, 4, "debian, Node.js, node_modules, app");
  assert.deepEqual(image.config.config.Entrypoint, ["/bin/sh", "-c", "exec npm start"]);
  // The build ran with is-number (a devDependency), then npm prune removed it: a whiteout in the app layer.
  const { stdout } = await exec(["tar", "--list", "--file", ctx.layout.blobPath(image.manifest.layers.at(-1)!.digest)]);
  assert.match(stdout, /\.\/app\/dist\/build\.json/);
  assert.match(stdout, /\.\/app\/node_modules\/\.wh\.is-number/);
  const out = await runInImage(ctx, image, [
    "node",
    "-e",
    // Not require('is-number'): npm's own copy would hide a missing one (Debian's node resolves from /usr/share/nodejs).
    "console.log(require('ms')('1d'), require('./dist/build.json').built, require('node:fs').existsSync('/app/node_modules/is-number') ? 'kept' : 'pruned')",
  ]);
  assert.equal(out.trim(), "86400000 true pruned");
  await assertStandardImage(ctx, first.image.ref!);

  await appendFile(join(src, "server.js"), "\n// a code-only change\n");
  const second = await builder.build({ ...ctx, version: "v2" });
  assert.equal(second.cached.dependencies, true);
  const again = await ctx.layout.resolve(second.image.ref!);
  assert.equal(again.manifest.layers.at(-2)!.digest, image.manifest.layers.at(-2)!.digest, "same node_modules layer");
});
