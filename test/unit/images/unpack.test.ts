import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { OciLayout } from "../../../src/images/layout.js";
import { unpackLayers } from "../../../src/images/unpack.js";
import { overlayToOciWhiteouts } from "../../../src/images/whiteouts.js";
import { exec } from "../../../src/system/exec.js";
import { imageToolsMissing } from "./shared-store.js";

const missing = await imageToolsMissing(["tar", "setfattr", "getfattr", "mknod", "mount"]);

async function tree(root: string, files: Record<string, string>): Promise<string> {
  await mkdir(root, { recursive: true, mode: 0o755 });
  for (const [p, text] of Object.entries(files)) {
    await mkdir(join(root, p, ".."), { recursive: true });
    await writeFile(join(root, p), text);
  }
  return root;
}

async function opaque(dir: string): Promise<boolean> {
  const { stdout } = await exec(["getfattr", "--only-values", "--name", "trusted.overlay.opaque", dir], { okCodes: [0, 1] });
  return stdout === "y";
}

test("OCI whiteouts unpack to overlayfs whiteouts, and an overlay shows the image's filesystem", { skip: missing ?? false }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-unpack-"));
  const merged = join(dir, "merged");
  let mounted = false;
  t.after(async () => {
    if (mounted) await exec(["umount", merged]);
    await rm(dir, { recursive: true, force: true });
  });
  const layout = new OciLayout(join(dir, "oci"));
  await layout.init();
  const bottom = await layout.addLayerFromDir(
    await tree(join(dir, "l1"), { "etc/keep": "keep", "etc/gone": "gone", "data/old1": "1", "data/old2": "2" }),
  );
  const top = await layout.addLayerFromDir(
    await tree(join(dir, "l2"), { "etc/.wh.gone": "", "data/.wh..wh..opq": "", "data/new": "new" }),
  );
  await layout.writeImage([bottom, top], {}, "test/whiteouts:1");
  const image = await layout.resolve("test/whiteouts:1");
  const cache = join(dir, "unpacked");

  const dirs = await unpackLayers(layout, image, cache);
  assert.equal(dirs.length, 2);
  const [lower1, lower2] = dirs as [string, string];
  const wh = await lstat(join(lower2, "etc/gone"));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, ".wh.gone became a 0/0 char device");
  assert.ok(await opaque(join(lower2, "data")), ".wh..wh..opq became trusted.overlay.opaque=y");
  assert.deepEqual((await readdir(join(lower2, "data"))).sort(), ["new"]);
  assert.equal(await readFile(join(lower1, "etc/gone"), "utf8"), "gone");

  const again = await unpackLayers(layout, image, cache);
  assert.deepEqual(again, dirs);
  assert.equal((await stat(join(lower1, "etc/keep"))).ino, (await stat(join(again[0]!, "etc/keep"))).ino, "cached, not re-extracted");

  for (const d of ["upper", "work", "merged"]) await mkdir(join(dir, d));
  await exec(["mount", "-t", "overlay", "strata-test-unpack", "-o", `lowerdir=${lower2}:${lower1},upperdir=${join(dir, "upper")},workdir=${join(dir, "work")}`, merged]);
  mounted = true;
  assert.deepEqual((await readdir(join(merged, "etc"))).sort(), ["keep"]);
  assert.deepEqual((await readdir(join(merged, "data"))).sort(), ["new"]);

  // Deleting through the overlay leaves overlay whiteouts in the upper dir; they convert back to OCI's.
  await unlink(join(merged, "etc/keep"));
  await rm(join(merged, "data"), { recursive: true });
  await mkdir(join(merged, "data"));
  await writeFile(join(merged, "data/fresh"), "fresh");
  await exec(["umount", merged]);
  mounted = false;
  const upper = join(dir, "upper");
  await overlayToOciWhiteouts(upper);
  assert.ok((await lstat(join(upper, "etc/.wh.keep"))).isFile());
  assert.ok((await lstat(join(upper, "data/.wh..wh..opq"))).isFile());
  assert.equal(await opaque(join(upper, "data")), false, "the xattr is gone from the layer tree");
  const layer = await layout.addLayerFromDir(upper);
  const { stdout } = await exec(["tar", "--list", "--file", layout.blobPath(layer.descriptor.digest)]);
  assert.match(stdout, /\.\/etc\/\.wh\.keep/);
  assert.match(stdout, /\.\/data\/\.wh\.\.wh\.\.opq/);
  assert.match(stdout, /\.\/data\/fresh/);
});
