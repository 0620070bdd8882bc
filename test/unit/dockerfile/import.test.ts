import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DockerfileBuilder } from "../../../src/build/dockerfile/index.js";
import { importImage, importedRef } from "../../../src/images/import.js";
import { exec } from "../../../src/system/exec.js";
import { sharedImageStore } from "../images/shared-store.js";
import { dockerContext, fileHome, layerFiles, missing, readableImage, sourceDir } from "./harness.js";

const home = missing ? undefined : await fileHome();
const opts = { skip: missing ?? false, timeout: 20 * 60_000 };
const names = { rootfs: `tiny-${process.pid}:1`, gz: `tiny-${process.pid}:gz`, oci: `tiny-${process.pid}:oci`, docker: `docker.io/library/tiny-${process.pid}:docker` };

async function layerList(blob: string): Promise<string> {
  return (await exec(["tar", "--list", "--verbose", "--numeric-owner", "--file", blob])).stdout;
}

/** A scratch dir with a small root filesystem tarball; imported names are untagged after the test. */
async function tinyRootfs(t: import("node:test").TestContext): Promise<{ dir: string; tar: string }> {
  const dir = await mkdtemp(join(tmpdir(), "strata-import-"));
  const { layout } = sharedImageStore();
  t.after(async () => {
    await rm(dir, { recursive: true, force: true });
    for (const n of Object.values(names)) await layout.untag(importedRef(n));
  });
  await mkdir(join(dir, "root", "etc"), { recursive: true });
  await writeFile(join(dir, "root", "hello.txt"), "hello from an imported image\n");
  await writeFile(join(dir, "root", "etc", "os-release"), 'NAME="tiny"\n');
  const tar = join(dir, "rootfs.tar");
  await exec(["tar", "--create", "--file", tar, "--directory", join(dir, "root"), "--numeric-owner", "."]);
  return { dir, tar };
}

test("importImage adopts a rootfs tarball, an OCI archive and a docker archive; FROM and COPY --from use them", opts, async (t) => {
  const { layout } = sharedImageStore();
  const { dir, tar } = await tinyRootfs(t);

  const rootfs = await importImage(layout, tar, names.rootfs);
  assert.equal(rootfs.format, "rootfs-tar");
  assert.equal(rootfs.image.ref, importedRef(names.rootfs));
  const imported = await layout.resolve(rootfs.image.ref!);
  assert.equal(imported.manifest.layers.length, 1);
  await exec(["umoci", "stat", "--image", `${layout.dir}:${rootfs.image.ref}`]);

  await exec(["gzip", "--keep", tar]);
  const gz = await importImage(layout, `${tar}.gz`, names.gz);
  assert.equal(gz.format, "rootfs-tar");
  const gzImage = await layout.resolve(gz.image.ref!);
  assert.deepEqual(await layerList(layout.blobPath(gzImage.manifest.layers[0]!.digest)), await layerList(layout.blobPath(imported.manifest.layers[0]!.digest)));

  await exec(["skopeo", "copy", "--insecure-policy", "--quiet", `oci:${layout.dir}:${rootfs.image.ref}`, `oci-archive:${join(dir, "tiny-oci.tar")}`]);
  const oci = await importImage(layout, join(dir, "tiny-oci.tar"), names.oci);
  assert.equal(oci.format, "oci-archive");
  const diffIds = imported.config.rootfs.diff_ids;
  assert.deepEqual((await layout.resolve(oci.image.ref!)).config.rootfs.diff_ids, diffIds, "an OCI archive round-trips to the same layers");

  await exec(["skopeo", "copy", "--insecure-policy", "--quiet", `oci:${layout.dir}:${rootfs.image.ref}`, `docker-archive:${join(dir, "tiny-docker.tar")}:tiny:1`]);
  const docker = await importImage(layout, join(dir, "tiny-docker.tar"), names.docker);
  assert.equal(docker.format, "docker-archive");
  assert.equal(docker.name, `tiny-${process.pid}:docker`, "docker.io/library/ is Docker's default, not part of the name");
  assert.deepEqual((await layout.resolve(docker.image.ref!)).config.rootfs.diff_ids, diffIds);

  const ctx = dockerContext(
    t,
    home!,
    await sourceDir(t, {
      Dockerfile: `FROM ${names.oci} AS tiny\nFROM ${names.docker}\nCOPY --from=${names.rootfs} /hello.txt /copied.txt\nCOPY --from=tiny /etc/os-release /etc/os-release.tiny\nCMD ["/hello"]\n`,
    }),
  );
  const result = await new DockerfileBuilder().build(ctx);
  const built = await readableImage(ctx, result.image.ref!);
  assert.equal(built.manifest.layers[0]?.digest, imported.manifest.layers[0]?.digest, "FROM the imported image");
  assert.deepEqual(await layerFiles(ctx, built, 1), ["copied.txt"]);
  assert.deepEqual(built.config.config.Cmd, ["/hello"]);
});

test("importImage refuses a file that is not a tar archive", opts, async (t) => {
  const { layout } = sharedImageStore();
  const dir = await mkdtemp(join(tmpdir(), "strata-import-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "junk.tar"), "this is not a tarball");
  await assert.rejects(importImage(layout, join(dir, "junk.tar"), "junk:1"), (err: Error & { code?: string }) => err.code === "INVALID_ARCHIVE");
});
