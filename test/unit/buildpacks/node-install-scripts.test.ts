import assert from "node:assert/strict";
import { hostLoopbackListener } from "../helpers/host-listener.js";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { NodeBuilder } from "../../../src/build/nodejs/builder.js";
import { StrataError } from "../../../src/errors.js";
import { exec } from "../../../src/system/exec.js";
import { imageToolsMissing, npmRegistryOrSkip } from "../images/shared-store.js";
import { buildContext, runInImage } from "./build-harness.js";

/**
 * Dependency install scripts run in the npm step, as npm runs them by default, inside the step's sandbox:
 * unprivileged, and on a network of its own that reaches the npm registry but not the host's loopback.
 * The app is written per test: `ms` from the registry (npm ci, so the lockfile path), a `file:`
 * tarball whose postinstall records who ran it and whether it could reach a listener on the host's
 * 127.0.0.1 (directly, and through slirp4netns's host alias 10.0.2.2), and a `file:` folder (npm links
 * it) whose postinstall builds inside it.
 */
const missing = await imageToolsMissing(["mmdebstrap", "runc", "tar", "setfattr", "getfattr", "skopeo", "umoci", "slirp4netns", "unshare"]);
const builder = new NodeBuilder();
const TARBALL = "vendor/hello-postinstall-1.0.0.tgz";
const LINKED = "vendor/hello-linked";
const MS_INTEGRITY = "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==";

/** The dependency's postinstall: writes postinstall.json in its package folder (npm runs it there). */
function postinstallScript(port: number): string {
  return `const net = require("node:net");
const probe = (host) => new Promise((resolve) => {
  const s = net.connect({ host, port: ${port}, timeout: 5000 });
  s.once("connect", () => { s.destroy(); resolve("connected"); });
  s.once("timeout", () => { s.destroy(); resolve("timeout"); });
  s.once("error", (e) => resolve(e.code));
});
(async () => {
  const capEff = require("node:fs").readFileSync("/proc/self/status", "utf8").match(/^CapEff:\\s+(\\w+)/m)[1];
  const result = { uid: process.getuid(), capEff, loopback: await probe("127.0.0.1"), hostAlias: await probe("10.0.2.2") };
  require("node:fs").writeFileSync("postinstall.json", JSON.stringify(result));
})();
`;
}

/** An app depending on `ms` (registry) and a packed local package with a postinstall; returns its folder. */
async function appWithInstallScript(t: TestContext, port: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "strata-src-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const staging = join(dir, ".pack", "package");
  await mkdir(staging, { recursive: true });
  await writeFile(join(staging, "package.json"), JSON.stringify({ name: "hello-postinstall", version: "1.0.0", scripts: { postinstall: "node postinstall.js" } }));
  await writeFile(join(staging, "postinstall.js"), postinstallScript(port));
  await mkdir(join(dir, "vendor"));
  await exec(["tar", "--create", "--gzip", "--file", join(dir, TARBALL), "--directory", join(dir, ".pack"), "--owner=0", "--group=0", "--numeric-owner", "package"]);
  await rm(join(dir, ".pack"), { recursive: true });
  await mkdir(join(dir, LINKED));
  await writeFile(join(dir, LINKED, "package.json"), JSON.stringify({ name: "hello-linked", version: "1.0.0", scripts: { postinstall: "node -e \"require('fs').writeFileSync('built.txt', 'built')\"" } }));
  const integrity = `sha512-${createHash("sha512").update(await readFile(join(dir, TARBALL))).digest("base64")}`;
  const dependencies = { "hello-linked": `file:${LINKED}`, "hello-postinstall": `file:${TARBALL}`, ms: "2.1.3" };
  // The app's own postinstall needs its source (absent from the dependency step): it runs in the source step.
  const pkg = { name: "install-scripts-fixture", version: "1.0.0", private: true, scripts: { start: "node server.js", postinstall: "node setup.js" }, dependencies };
  await writeFile(join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  const lock = {
    name: pkg.name,
    version: pkg.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: pkg.name, version: pkg.version, hasInstallScript: true, dependencies },
      "node_modules/hello-linked": { resolved: LINKED, link: true },
      [LINKED]: { name: "hello-linked", version: "1.0.0", hasInstallScript: true },
      "node_modules/hello-postinstall": { version: "1.0.0", resolved: `file:${TARBALL}`, integrity, hasInstallScript: true },
      "node_modules/ms": { version: "2.1.3", integrity: MS_INTEGRITY, license: "MIT" },
    },
  };
  await writeFile(join(dir, "package-lock.json"), JSON.stringify(lock, null, 2));
  await writeFile(join(dir, "setup.js"), "require('node:fs').writeFileSync('setup.txt', 'ran');\n");
  await writeFile(join(dir, "server.js"), "require('node:http').createServer((_, res) => res.end('ok')).listen(process.env.PORT);\n");
  return dir;
}

test("dependency install scripts run unprivileged, reach the registry but not the host's loopback, and land in the node_modules layer", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  if (!(await npmRegistryOrSkip(t))) return;
  const listener = await hostLoopbackListener(t);
  const src = await appWithInstallScript(t, listener.port);
  const ctx = buildContext(t, src, { runtime: "nodejs20" });
  const result = await builder.build(ctx);
  assert.ok(ctx.lines.includes("$ npm ci --omit=dev --no-audit --no-fund"), ctx.lines.join("\n"));
  assert.ok(ctx.lines.includes("$ npm run --ignore-scripts postinstall"), ctx.lines.join("\n"));
  const image = await ctx.layout.resolve(result.image.ref!);
  assert.equal(image.manifest.layers.length, 4, "debian, Node.js, node_modules, app");

  // The script's output is in the dependency layer, owned by root (the app's user cannot change it).
  const depsLayer = ctx.layout.blobPath(image.manifest.layers.at(-2)!.digest);
  const { stdout: listing } = await exec(["tar", "--list", "--verbose", "--numeric-owner", "--file", depsLayer]);
  const entry = listing.split("\n").find((l) => l.endsWith("./app/node_modules/hello-postinstall/postinstall.json"));
  assert.ok(entry, `postinstall.json is in the node_modules layer:\n${listing}`);
  assert.match(entry, / 0\/0 /, "owned by root in the layer");
  assert.ok(!listing.split("\n").some((l) => / 65534\/65534 /.test(l)), "nothing in the layer is left to the build user");
  assert.ok(!listing.includes(TARBALL), "the tarball itself belongs to the app layer");

  const probe = JSON.parse(await runInImage(ctx, image, ["cat", "/app/node_modules/hello-postinstall/postinstall.json"])) as Record<string, unknown>;
  assert.equal(probe.uid, 65534, "npm and its scripts ran as nobody");
  assert.equal(probe.capEff, "0000000000000000", "with no capabilities");
  assert.equal(probe.loopback, "ECONNREFUSED", "127.0.0.1 in the step is the step's own loopback");
  assert.ok(probe.hostAlias === "ENETUNREACH" || probe.hostAlias === "ECONNREFUSED", `slirp's alias for the host is refused: ${String(probe.hostAlias)}`);
  assert.equal(listener.connections(), 0, "the host listener saw no connection");
  // ms came from the registry through the step's own network.
  assert.equal((await runInImage(ctx, image, ["node", "-p", "require('ms')('1d')"])).trim(), "86400000");
  assert.equal(await runInImage(ctx, image, ["cat", "/app/setup.txt"]), "ran", "the app's own postinstall ran with its source");
  assert.equal(await runInImage(ctx, image, ["cat", "/app/node_modules/hello-linked/built.txt"]), "built", "a linked folder's postinstall built in it");
});

test("an app's .npmrc `ignore-scripts=true` turns dependency install scripts and the app's own off", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  if (!(await npmRegistryOrSkip(t))) return;
  const listener = await hostLoopbackListener(t);
  const src = await appWithInstallScript(t, listener.port);
  await writeFile(join(src, ".npmrc"), "ignore-scripts=true\n");
  const ctx = buildContext(t, src, { runtime: "nodejs20" });
  const result = await builder.build(ctx);
  const image = await ctx.layout.resolve(result.image.ref!);
  const out = await runInImage(ctx, image, ["sh", "-c", "test -e /app/node_modules/hello-postinstall/package.json && echo installed; test -e /app/node_modules/hello-postinstall/postinstall.json && echo ran || echo not-run; test -e /app/setup.txt && echo app-ran || echo app-not-run"]);
  assert.deepEqual(out.trim().split("\n"), ["installed", "not-run", "app-not-run"]);
  assert.equal(listener.connections(), 0);
});

test("a .npmrc or `file:` dependency that is a symlink out of the app fails the build before npm runs", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  // The step's scripts could read whatever these resolve to, so host files must never be copied in.
  for (const [name, target] of [[".npmrc", "/etc/hostname"], [TARBALL, "/etc/hostname"]] as const) {
    const src = await appWithInstallScript(t, 9); // the postinstall never runs
    await rm(join(src, name), { force: true });
    await symlink(target, join(src, name));
    const ctx = buildContext(t, src, { runtime: "nodejs20" });
    const err = await builder.build(ctx).then(
      () => assert.fail(`${name} -> ${target} was read`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StrataError && err.code === "BUILD_FAILED", String(err));
    assert.match(err.message, /resolves outside the app's folder/);
    assert.ok(!ctx.lines.some((l) => l.startsWith("$ npm")), "npm never ran");
  }
});
