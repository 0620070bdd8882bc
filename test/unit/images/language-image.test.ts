import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { StrataError } from "../../../src/errors.js";
import { readHostAptConfig, sourcesForSuite } from "../../../src/images/host-apt.js";
import { chooseLanguageImage, compareVersions, describeChoice, upstreamVersion } from "../../../src/images/language-image.js";
import { askedGoVersion } from "../../../src/build/go/builder.js";
import { askedPythonVersion } from "../../../src/build/python/builder.js";

test("each runtime version gets the image of its exact minor, else the nearest newer, else a list of what there is", () => {
  const cases: Array<[Parameters<typeof chooseLanguageImage>[0], string | undefined, string, boolean]> = [
    ["python", undefined, "python", true],
    ["python", "3.7", "python", false],
    ["python", "3.11", "python", true],
    ["python", "3.12", "python313", false],
    ["python", "3.13", "python313", true],
    ["python", "3.14", "python314", true],
    ["go", undefined, "golang", true],
    ["go", "1.11", "golang", false],
    ["go", "1.19", "golang", true],
    ["go", "1.22", "golang124", false],
    ["go", "1.24", "golang124", true],
    ["go", "1.25", "golang126", false],
    ["go", "1.26", "golang126", true],
    ["ruby", "3.2", "ruby33", false],
    ["php", "8.4", "php84", true],
  ];
  for (const [language, asked, image, exact] of cases) {
    const choice = chooseLanguageImage(language, asked);
    assert.equal(choice.recipe.name, image, `${language} ${asked}`);
    assert.equal(choice.exact, exact, `${language} ${asked} exact`);
  }
  assert.throws(
    () => chooseLanguageImage("python", "3.15"),
    (e: unknown) => e instanceof StrataError && e.code === "UNSUPPORTED_RUNTIME" && /python311 \(Python 3\.11\), python313 \(Python 3\.13\), python314 \(Python 3\.14\)/.test(e.message),
  );
});

test("what a choice runs is said with the exact version, and why when it is not the one asked for", () => {
  assert.equal(describeChoice(chooseLanguageImage("python", "3.13"), "3.13.5"), "Python 3.13.5");
  assert.equal(describeChoice(chooseLanguageImage("go", "1.22"), "1.24.4"), "Go 1.24.4 (nearest newer: no Debian suite carries Go 1.22)");
  assert.equal(describeChoice(chooseLanguageImage("go", "1.19"), undefined), "Go 1.19");
  assert.equal(upstreamVersion("3.13.5-2+deb13u5"), "3.13.5");
  assert.equal(upstreamVersion("1.24.4-1"), "1.24.4");
  assert.equal(upstreamVersion("2:1.24~2"), "1.24");
  assert.ok(compareVersions("3.9", "3.13") < 0);
  assert.equal(compareVersions("1.24", "1.24"), 0);
});

test("app.yaml's runtime names the version; for Go without one, go.mod's go line does", () => {
  assert.equal(askedPythonVersion("python313"), "3.13");
  assert.equal(askedPythonVersion("python3"), undefined);
  assert.equal(askedPythonVersion(undefined), undefined);
  assert.equal(askedGoVersion("go124", "module m\n\ngo 1.19\n"), "1.24");
  assert.equal(askedGoVersion(undefined, "module m\n\ngo 1.22.3\n"), "1.22");
  assert.equal(askedGoVersion(undefined, "module m\n"), undefined);
  assert.equal(askedGoVersion("go", "module m\n\ngo 1.22\n"), undefined);
});

test("the host's apt sources are rewritten for another suite: same mirrors, the host's codename replaced", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "strata-apt-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "os-release"), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n');
  await writeFile(
    join(dir, "sources.list"),
    "deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\ndeb http://security.debian.org/debian-security bookworm-security main\n",
  );
  const apt = await readHostAptConfig(dir, join(dir, "os-release"));
  assert.equal(apt.codename, "bookworm");
  assert.deepEqual(await sourcesForSuite(apt, "bookworm", join(dir, "out")), apt.sourceFiles, "the host's own suite uses its files as they are");
  const [trixie] = await sourcesForSuite(apt, "trixie", join(dir, "out"));
  assert.equal(
    await readFile(trixie!, "utf8"),
    "deb http://deb.debian.org/debian trixie main\ndeb http://deb.debian.org/debian trixie-updates main\ndeb http://security.debian.org/debian-security trixie-security main\n",
  );
});
