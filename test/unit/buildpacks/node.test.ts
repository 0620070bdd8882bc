import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { NodeBuilder } from "../../../src/build/nodejs/builder.js";
import { exec } from "../../../src/system/exec.js";
import { imageToolsMissing } from "../images/shared-store.js";
import { assertStandardImage, buildContext, runInImage, sourceCopy } from "./build-harness.js";

const missing = await imageToolsMissing();
const FIXTURES = new URL("../../fixtures/apps/", import.meta.url).pathname;
const EXAMPLE = new URL("../../../examples/node-app/", import.meta.url).pathname;
const builder = new NodeBuilder();

/** `npm ci` needs the npm registry; a host without it cannot run the dependency test. */
async function registryUnreachable(): Promise<string | null> {
  try {
    await exec(["npm", "ping", "--silent"], { timeoutMs: 20_000 });
    return null;
  } catch (err) {
    return `the npm registry is unreachable (npm ping): ${(err as Error).message.split("\n")[0]}`;
  }
}

test("node detection: package.json and app.yaml runtime", async () => {
  assert.equal(await builder.detect(EXAMPLE, {}), true);
  assert.equal(await builder.detect(EXAMPLE, { runtime: "python311" }), false);
  assert.equal(await builder.detect(join(FIXTURES, "python-wheel"), {}), false);
  assert.equal(await builder.detect(join(FIXTURES, "python-wheel"), { runtime: "nodejs20" }), true);
});

test("the node example (no npm dependencies) builds without npm into a runnable OCI image", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const ctx = buildContext(t, EXAMPLE, { runtime: "nodejs20" });
  const result = await builder.build(ctx);
  assert.equal(result.runtime, "nodejs20");
  assert.equal(result.cached.dependencies, false);
  assert.ok(ctx.lines.some((l) => /skipping npm/.test(l)));
  assert.ok(ctx.lines.some((l) => /note: runtime nodejs20 is served by .*Node 18/.test(l)), "the Node version gap is said");
  const image = await ctx.layout.resolve(result.image.ref!);
  assert.deepEqual(image.config.config.Entrypoint, ["/bin/sh", "-c", "exec npm start"]);
  assert.equal(image.config.config.User, "65534:65534");
  const inspect = await assertStandardImage(ctx, result.image.ref!);
  assert.equal(inspect.Layers.length, 2, "base and app: no dependency layer");
  const out = await runInImage(ctx, image, ["node", "-e", "require('/app/server.js'); console.log(process.version); process.exit(0)"], ["PORT=0"]);
  assert.match(out, /^v18\./m);
});

test("npm dependencies: cached by the lockfile, build script with devDependencies, pruned after", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const offlineReason = await registryUnreachable();
  if (offlineReason) {
    t.skip(offlineReason);
    return;
  }
  const src = await sourceCopy(t, join(FIXTURES, "node-build"));
  const ctx = buildContext(t, src, { runtime: "nodejs20" });
  const first = await builder.build(ctx);
  const image = await ctx.layout.resolve(first.image.ref!);
  assert.equal(image.manifest.layers.length, 3, "base, node_modules, app");
  assert.deepEqual(image.config.config.Entrypoint, ["/bin/sh", "-c", "exec npm start"]);
  // The build ran with is-number (a devDependency), then npm prune removed it: a whiteout in the app layer.
  const { stdout } = await exec(["tar", "--list", "--file", ctx.layout.blobPath(image.manifest.layers[2]!.digest)]);
  assert.match(stdout, /\.\/app\/dist\/build\.json/);
  assert.match(stdout, /\.\/app\/node_modules\/\.wh\.is-number/);
  const out = await runInImage(ctx, image, [
    "node",
    "-e",
    // Not require('is-number'): Debian's node also resolves from /usr/share/nodejs, where npm's own copy lives.
    "console.log(require('ms')('1d'), require('./dist/build.json').built, require('node:fs').existsSync('/app/node_modules/is-number') ? 'kept' : 'pruned')",
  ]);
  assert.equal(out.trim(), "86400000 true pruned");
  await assertStandardImage(ctx, first.image.ref!);

  await appendFile(join(src, "server.js"), "\n// a code-only change\n");
  const second = await builder.build({ ...ctx, version: "v2" });
  assert.equal(second.cached.dependencies, true);
  const again = await ctx.layout.resolve(second.image.ref!);
  assert.equal(again.manifest.layers[1]!.digest, image.manifest.layers[1]!.digest, "same node_modules layer");
});
