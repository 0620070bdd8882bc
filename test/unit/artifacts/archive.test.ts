import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { access, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { gzipSync } from "node:zlib";
import * as tar from "tar";
import { createArchive, extractArchive } from "../../../src/artifacts/archive.js";
import { parseIgnore } from "../../../src/artifacts/ignore.js";
import { StrataError } from "../../../src/errors.js";
import { rawTar, type RawEntry } from "./raw-tar.js";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "strata-archive-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Extracting `entries` must fail with `code`, name `entry`, and leave no destination folder. */
async function assertRefused(t: TestContext, entries: RawEntry[], entry: string, reason: RegExp, gzip = false): Promise<void> {
  const dir = await tempDir(t);
  const file = join(dir, gzip ? "a.tar.gz" : "a.tar");
  const raw = rawTar(entries);
  await writeFile(file, gzip ? gzipSync(raw) : raw);
  const dest = join(dir, "out");
  await assert.rejects(extractArchive(file, dest), (err: StrataError) => {
    assert.equal(err.code, "INVALID_ARCHIVE");
    assert.equal(err.details?.entry, entry);
    assert.match(String(err.details?.reason), reason);
    assert.ok(err.message.includes(entry), err.message);
    return true;
  });
  assert.equal(await exists(dest), false, "nothing half-written is left");
  assert.equal(await exists(join(dir, "escaped")), false);
}

test("a good archive (plain and gzip) extracts files, folders, inside symlinks and hardlinks", async (t) => {
  const entries: RawEntry[] = [
    { path: "site/", type: "Directory" },
    { path: "site/index.html", body: "<h1>hi</h1>" },
    { path: "./site/css/app.css", body: "body{}" },
    { path: "site/latest.html", type: "SymbolicLink", linkpath: "index.html" },
    { path: "site/up", type: "SymbolicLink", linkpath: "../site/css" },
    { path: "site/copy.html", type: "Link", linkpath: "site/index.html" },
  ];
  for (const gzip of [false, true]) {
    const dir = await tempDir(t);
    const file = join(dir, "src.tar");
    await writeFile(file, gzip ? gzipSync(rawTar(entries)) : rawTar(entries));
    const dest = join(dir, "out");
    const got = await extractArchive(file, dest);
    assert.deepEqual(got, { files: 2, bytes: 17 });
    assert.equal(await readFile(join(dest, "site/index.html"), "utf8"), "<h1>hi</h1>");
    assert.equal(await readFile(join(dest, "site/css/app.css"), "utf8"), "body{}");
    assert.equal(await readlink(join(dest, "site/latest.html")), "index.html");
    assert.equal(await readFile(join(dest, "site/copy.html"), "utf8"), "<h1>hi</h1>");
    assert.equal((await stat(join(dest, "site/copy.html"))).ino, (await stat(join(dest, "site/index.html"))).ino);
  }
});

test("refuses entries that escape the root with ..", (t) => assertRefused(t, [{ path: "../escaped", body: "x" }], "../escaped", /'\.\.'/));

test("refuses .. in the middle of a path too", (t) => assertRefused(t, [{ path: "a/../../escaped", body: "x" }], "a/../../escaped", /'\.\.'/));

test("refuses absolute paths", (t) => assertRefused(t, [{ path: "/tmp/escaped", body: "x" }], "/tmp/escaped", /absolute path/));

test("refuses a symlink whose target leaves the root", (t) =>
  assertRefused(t, [{ path: "link", type: "SymbolicLink", linkpath: "../../etc" }], "link", /outside the archive/));

test("refuses a symlink to an absolute path", (t) =>
  assertRefused(t, [{ path: "link", type: "SymbolicLink", linkpath: "/etc/passwd" }], "link", /absolute path/));

test("refuses a symlink escaping through another symlink", (t) =>
  assertRefused(
    t,
    [
      { path: "a/here", type: "SymbolicLink", linkpath: "." },
      // Textually "a/here/../.." is "." but the kernel resolves here -> a first, so it lands above the root.
      { path: "a/b", type: "SymbolicLink", linkpath: "here/../.." },
    ],
    "a/b",
    /outside the archive/,
  ));

test("refuses a file written through a symlinked folder", (t) =>
  assertRefused(
    t,
    [
      { path: "dir", type: "SymbolicLink", linkpath: "sub" },
      { path: "dir/file", body: "x" },
    ],
    "dir/file",
    /inside the symbolic link/,
  ));

test("refuses a hardlink pointing outside the root", (t) =>
  assertRefused(t, [{ path: "hard", type: "Link", linkpath: "../../etc/passwd" }], "hard", /outside the archive/));

test("refuses a hardlink to an absolute path", (t) =>
  assertRefused(t, [{ path: "hard", type: "Link", linkpath: "/etc/passwd" }], "hard", /absolute path/));

test("refuses a hardlink to an entry that does not exist", (t) =>
  assertRefused(t, [{ path: "hard", type: "Link", linkpath: "nope.txt" }], "hard", /not a file earlier/));

test("refuses character devices", (t) => assertRefused(t, [{ path: "ok.txt", body: "x" }, { path: "tty", type: "CharacterDevice" }], "tty", /character device/));

test("refuses block devices", (t) => assertRefused(t, [{ path: "sda", type: "BlockDevice" }], "sda", /block device/));

test("refuses fifos, also inside gzip", (t) => assertRefused(t, [{ path: "pipe", type: "FIFO" }], "pipe", /fifo/, true));

test("refuses unknown entry types", async (t) => {
  const raw = rawTar([{ path: "odd", body: "" }]);
  raw[156] = "S".charCodeAt(0); // GNU sparse file
  // Fix the checksum for the changed type byte.
  raw.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += raw[i]!;
  raw.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  const dir = await tempDir(t);
  await writeFile(join(dir, "a.tar"), raw);
  await assert.rejects(extractArchive(join(dir, "a.tar"), join(dir, "out")), (err: StrataError) => {
    assert.equal(err.code, "INVALID_ARCHIVE");
    assert.equal(err.details?.entry, "odd");
    assert.match(err.message, /sparse file/);
    return true;
  });
  assert.equal(await exists(join(dir, "out")), false);
});

test("a corrupt or truncated archive is INVALID_ARCHIVE and leaves nothing", async (t) => {
  const dir = await tempDir(t);
  const good = gzipSync(rawTar([{ path: "a.txt", body: "x".repeat(5000) }, { path: "b.txt", body: "y" }]));
  const cases: Record<string, Buffer> = {
    "not a tar": Buffer.from("this is not an archive at all, just some text that goes on and on".repeat(20)),
    "truncated gzip": good.subarray(0, good.length - 40),
    "truncated tar": rawTar([{ path: "a.txt", body: "x".repeat(5000) }]).subarray(0, 2048),
    empty: Buffer.alloc(0),
  };
  for (const [name, content] of Object.entries(cases)) {
    await writeFile(join(dir, "bad.tar"), content);
    const dest = join(dir, "out");
    await assert.rejects(extractArchive(join(dir, "bad.tar"), dest), (err: StrataError) => {
      assert.equal(err.code, "INVALID_ARCHIVE", name);
      assert.match(err.message, /not a valid tar\(\.gz\)/, name);
      return true;
    });
    assert.equal(await exists(dest), false, name);
  }
});

test("limits on extracted bytes and entry count", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "a.tar"), rawTar([{ path: "a", body: "x".repeat(100) }, { path: "b", body: "y".repeat(100) }]));
  await assert.rejects(extractArchive(join(dir, "a.tar"), join(dir, "o1"), { maxBytes: 150 }), (err: StrataError) => err.code === "ARCHIVE_TOO_LARGE");
  await assert.rejects(extractArchive(join(dir, "a.tar"), join(dir, "o2"), { maxEntries: 1 }), (err: StrataError) => err.code === "ARCHIVE_TOO_LARGE");
  assert.equal(await exists(join(dir, "o1")), false);
  assert.equal(await exists(join(dir, "o2")), false);
});

test("setuid bits and archive owners do not reach disk", async (t) => {
  const dir = await tempDir(t);
  const header = new tar.Header({ path: "suid", type: "File", size: 1, mode: 0o4755, uid: 4242, gid: 4242, mtime: new Date(0) });
  const block = Buffer.alloc(512);
  header.encode(block, 0);
  const body = Buffer.alloc(512);
  body.write("x");
  await writeFile(join(dir, "a.tar"), Buffer.concat([block, body, Buffer.alloc(1024)]));
  await extractArchive(join(dir, "a.tar"), join(dir, "out"));
  const st = await stat(join(dir, "out", "suid"));
  assert.equal(st.mode & 0o7000, 0);
  assert.equal(st.uid, process.getuid!());
});

test("createArchive packs a folder honouring ignore rules; extractArchive restores it", async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, "app");
  await mkdir(join(src, "node_modules/pkg"), { recursive: true });
  await mkdir(join(src, ".git"), { recursive: true });
  await mkdir(join(src, "static/img"), { recursive: true });
  await writeFile(join(src, "app.yaml"), "runtime: static\n");
  await writeFile(join(src, ".stratignore"), "node_modules/\n*.log\n!keep.log\n");
  await writeFile(join(src, "node_modules/pkg/index.js"), "x");
  await writeFile(join(src, ".git/HEAD"), "ref");
  await writeFile(join(src, "static/img/a.png"), "png");
  await writeFile(join(src, "debug.log"), "log");
  await writeFile(join(src, "keep.log"), "keep");
  await symlink("static/img/a.png", join(src, "logo.png"));
  const out = join(dir, "src.tar.gz");
  const packed = await createArchive(src, out);
  assert.equal(packed.files, 5); // app.yaml, .stratignore, a.png, keep.log, logo.png
  const listed: string[] = [];
  await tar.t({ file: out, onReadEntry: (e) => listed.push(e.path) });
  assert.deepEqual(listed.sort(), [".stratignore", "app.yaml", "keep.log", "logo.png", "static/", "static/img/", "static/img/a.png"]);
  const dest = join(dir, "out");
  await extractArchive(out, dest);
  assert.equal(await readFile(join(dest, "static/img/a.png"), "utf8"), "png");
  assert.ok((await lstat(join(dest, "logo.png"))).isSymbolicLink());
  // An explicit matcher replaces the folder's ignore file.
  const all = await createArchive(src, join(dir, "all.tar.gz"), parseIgnore(".git/"));
  assert.equal(all.files, 7);
  // The system tar agrees it is a valid gzip tar.
  assert.match(execFileSync("tar", ["-tzf", out], { encoding: "utf8" }), /static\/img\/a\.png/);
});

test("archives made by GNU tar (gnu long names, pax) extract", async (t) => {
  const dir = await tempDir(t);
  const deep = join(dir, "src", "a".repeat(60), "b".repeat(60));
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, "file.txt"), "deep");
  for (const format of ["gnu", "pax"]) {
    const file = join(dir, `${format}.tar.gz`);
    execFileSync("tar", ["-czf", file, `--format=${format}`, "-C", join(dir, "src"), "."]);
    const dest = join(dir, `out-${format}`);
    assert.deepEqual(await extractArchive(file, dest), { files: 1, bytes: 4 });
    assert.equal(await readFile(join(dest, "a".repeat(60), "b".repeat(60), "file.txt"), "utf8"), "deep");
  }
});
