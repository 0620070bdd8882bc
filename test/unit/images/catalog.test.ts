import assert from "node:assert/strict";
import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { imagePaths } from "../../../src/images/catalog.js";
import { withFileLock } from "../../../src/system/file-lock.js";
import { unpackLayers } from "../../../src/images/unpack.js";
import { exec } from "../../../src/system/exec.js";
import { imageToolsMissing, npmRegistryUnreachable, progressLog, sharedImageStore } from "./shared-store.js";

const missing = await imageToolsMissing();

test("the catalog resolves names and aliases, and refuses what it cannot honestly provide", () => {
  const { catalog } = sharedImageStore();
  for (const name of ["debian", "python", "nodejs"]) assert.ok(catalog.recipes().includes(name), name);
  assert.equal(catalog.recipeFor("debian:bookworm").name, "debian");
  assert.equal(catalog.recipeFor("python:3.11").name, "python");
  assert.equal(catalog.recipeFor("node:18").name, "nodejs");
  assert.equal(catalog.recipeFor("node:20").name, "nodejs20");
  assert.equal(catalog.recipeFor("node:22-bookworm-slim").name, "nodejs22");
  assert.throws(
    () => catalog.recipeFor("node:21"),
    (err: Error & { code?: string }) => err.code === "UNSUPPORTED_RUNTIME" && /node:21/.test(err.message) && /20\.\d+\.\d+ \(node:20\)/.test(err.message),
  );
  assert.throws(() => catalog.recipeFor("python:3.12"), (err: Error & { code?: string }) => err.code === "UNSUPPORTED_RUNTIME");
  assert.throws(() => catalog.recipeFor("alpine"), (err: Error & { code?: string }) => err.code === "NOT_FOUND" && /debian:bookworm/.test(err.message));
});

test("base images are built once from Debian packages, then served from the cache", { skip: missing ?? false, timeout: 20 * 60_000 }, async () => {
  const { catalog, layout } = sharedImageStore();
  const first = progressLog();
  // Two concurrent requests for one image: one build (or one cache hit), one result.
  const [a, b] = await Promise.all([catalog.ensure("debian", first.log), catalog.ensure("debian:bookworm", first.log)]);
  assert.equal(a.digest, b.digest);
  assert.ok(first.lines.filter((l) => l.startsWith("building base image")).length <= 1, first.lines.join("\n"));

  const again = progressLog();
  const c = await catalog.ensure("debian:12", again.log);
  assert.equal(c.digest, a.digest);
  assert.ok(again.lines.some((l) => l.endsWith("(cached)")), again.lines.join("\n"));
  assert.ok(!again.lines.some((l) => l.startsWith("building")), "a cache hit runs no mmdebstrap");

  const listed = await catalog.list();
  assert.ok(listed.some((i) => i.digest === a.digest && i.ref === a.ref && i.size > 10e6));
  const inspect = JSON.parse((await exec(["skopeo", "inspect", `oci:${layout.dir}:${a.ref}`])).stdout) as { Digest: string };
  assert.equal(inspect.Digest, a.digest);
  await exec(["umoci", "stat", "--image", `${layout.dir}:${a.ref}`]);
});

test("the python base image carries python3, pip, venv and gunicorn, and is container-ready", { skip: missing ?? false, timeout: 20 * 60_000 }, async () => {
  const { catalog, layout, home } = sharedImageStore();
  const ref = await catalog.ensure("python:3.11", progressLog().log);
  const image = await layout.resolve(ref.ref!);
  assert.match(image.config.config.Labels?.["dev.strata.packages"] ?? "", /python3=3\.11.*python3-gunicorn=20/);
  const [rootfs] = await unpackLayers(layout, image, imagePaths(home).unpacked);
  assert.ok(rootfs);
  for (const f of ["usr/bin/python3", "usr/lib/python3/dist-packages/pip", "usr/lib/python3/dist-packages/gunicorn", "usr/lib/python3.11/venv"]) {
    await lstat(join(rootfs, f));
  }
  assert.deepEqual(await readdir(join(rootfs, "dev")), [], "no device nodes in the layer");
  assert.deepEqual((await readdir(join(rootfs, "var/lib/apt/lists"))).filter((f) => f !== "partial"), []);
  assert.match(await readFile(join(rootfs, "etc/passwd"), "utf8"), /^nobody:x:65534:65534:/m);
  assert.equal(await readFile(join(rootfs, "etc/resolv.conf"), "utf8"), "");
  assert.ok((await lstat(join(rootfs, "app"))).isDirectory());
  assert.equal(image.config.config.WorkingDir, "/app");
});

test("a file lock serialises holders across callers and takes over a dead owner's lock", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-lock-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lock = join(dir, "x.lock");
  const order: string[] = [];
  const hold = (name: string) =>
    withFileLock(lock, async () => {
      order.push(`${name}+`);
      await new Promise((r) => setTimeout(r, 50));
      order.push(`${name}-`);
    });
  await Promise.all([hold("a"), hold("b")]);
  assert.deepEqual(order.map((s) => s.slice(1)), ["+", "-", "+", "-"], "never two holders at once");
  await writeFile(lock, "2147483646"); // a pid that does not exist
  assert.equal(await withFileLock(lock, async () => "taken over"), "taken over");
});
