import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadIgnore, parseIgnore } from "../../../src/artifacts/ignore.js";

/** [pattern file, path, isDir, expected ignored] */
const CASES: Array<[string, string, boolean, boolean]> = [
  ["*.log", "debug.log", false, true],
  ["*.log", "deep/dir/debug.log", false, true],
  ["*.log", "debug.log.txt", false, false],
  ["# comment\n\n*.log", "a.log", false, true],
  ["\\#notcomment", "#notcomment", false, true],
  ["build/", "build", true, true],
  ["build/", "build", false, false],
  ["build/", "src/build", true, true],
  ["build/", "build/out.js", false, true],
  ["/build", "build", true, true],
  ["/build", "src/build", true, false],
  ["doc/frotz", "doc/frotz", false, true],
  ["doc/frotz", "a/doc/frotz", false, false],
  ["foo/*", "foo/test.json", false, true],
  ["foo/*", "foo/bar/hello.c", false, true], // via its ignored parent folder foo/bar
  ["**/foo", "foo", false, true],
  ["**/foo", "x/y/foo", false, true],
  ["**/foo/bar", "x/foo/bar", false, true],
  ["abc/**", "abc/x/y", false, true],
  ["abc/**", "abc", true, false],
  ["a/**/b", "a/b", false, true],
  ["a/**/b", "a/x/y/b", false, true],
  ["a/**/b", "a/x/c", false, false],
  ["*.txt\n!keep.txt", "keep.txt", false, false],
  ["*.txt\n!keep.txt", "drop.txt", false, true],
  ["dir/\n!dir/keep.txt", "dir/keep.txt", false, true], // cannot re-include inside an ignored folder
  ["dir/*\n!dir/keep.txt", "dir/keep.txt", false, false],
  ["file?.js", "file1.js", false, true],
  ["file?.js", "file10.js", false, false],
  ["file[0-9].js", "file7.js", false, true],
  ["file[!0-9].js", "filex.js", false, true],
  ["file[!0-9].js", "file7.js", false, false],
  ["a*b", "a/b", false, false],
  ["trailing   ", "trailing", false, true],
  ["\\!important", "!important", false, true],
  ["node_modules", "web/node_modules", true, true],
];

test("gitignore patterns", () => {
  for (const [patterns, path, isDir, expected] of CASES) {
    assert.equal(parseIgnore(patterns)(path, isDir), expected, `${JSON.stringify(patterns)} on ${path}${isDir ? "/" : ""}`);
  }
});

test("loadIgnore prefers .stratignore, supports #!include:, and always drops VCS folders", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-ignore-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let m = await loadIgnore(dir);
  assert.equal(m(".git", true), true);
  assert.equal(m("index.html", false), false);
  await writeFile(join(dir, ".gitignore"), "dist/\n");
  await writeFile(join(dir, ".gcloudignore"), "#!include:.gitignore\n*.md\n");
  m = await loadIgnore(dir);
  assert.equal(m("dist", true), true);
  assert.equal(m("README.md", false), true);
  await writeFile(join(dir, ".stratignore"), "*.tmp\n");
  m = await loadIgnore(dir);
  assert.equal(m("README.md", false), false, ".gcloudignore is not read when .stratignore exists");
  assert.equal(m("x.tmp", false), true);
});
