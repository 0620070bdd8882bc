import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { detectAppKind } from "../../../src/build/detect.js";
import { askedJavaVersion } from "../../../src/build/java/index.js";
import { gradleUnsupported } from "../../../src/build/java/gradle.js";
import { askedRustVersion, readCargoManifest } from "../../../src/build/rust/index.js";
import { binaryOf, detectBuildSystem } from "../../../src/build/native/index.js";
import { parseLibraries, underUsr } from "../../../src/build/buildpack/native-libs.js";
import { chooseLanguageImage, describeChoice } from "../../../src/images/language-image.js";
import { findRecipe } from "../../../src/images/recipes.js";
import { runtimeLanguage } from "../../../src/config/index.js";
import { StrataError } from "../../../src/errors.js";

const REPO = new URL("../../../", import.meta.url).pathname;

async function folder(t: TestContext, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "strata-vmbp-unit-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

test("detection: pom.xml and build.gradle(.kts) are Java, Cargo.toml is Rust, CMake/Meson/Make are C; runtime ids decide first", async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ "pom.xml": "<project/>" }, "java"],
    [{ "build.gradle.kts": "" }, "java"],
    [{ "build.gradle": "" }, "java"],
    [{ "Cargo.toml": "[package]\nname='x'\n" }, "rust"],
    [{ "CMakeLists.txt": "" }, "c"],
    [{ "meson.build": "" }, "c"],
    [{ Makefile: "" }, "c"],
    // A Python app with a Makefile stays Python; a Rust crate with a Makefile stays Rust.
    [{ Makefile: "", "requirements.txt": "" }, "python"],
    [{ Makefile: "", "Cargo.toml": "" }, "rust"],
  ];
  for (const [files, kind] of cases) assert.equal(await detectAppKind(await folder(t, files), undefined), kind, Object.keys(files).join(","));
  const empty = await folder(t, { "x.txt": "" });
  for (const [runtime, kind] of [["java21", "java"], ["rust185", "rust"], ["rust170", "rust"], ["c", "c"], ["cpp", "cpp"]] as const) {
    assert.equal(await detectAppKind(empty, { runtime }), kind, runtime);
  }
  assert.throws(() => runtimeLanguage("rust162"), /unknown runtime "rust162"/);
});

test("Java versions: runtime javaNN, else the pom's release; 17 from bookworm, 21 and 25 from trixie, 11 on 17 (said so)", () => {
  assert.equal(askedJavaVersion("java21", null), "21");
  assert.equal(askedJavaVersion("java", "<java.version>21</java.version>"), undefined);
  assert.equal(askedJavaVersion(undefined, "<properties><java.version>21</java.version></properties>"), "21");
  assert.equal(askedJavaVersion(undefined, "<maven.compiler.release>17</maven.compiler.release>"), "17");
  assert.equal(askedJavaVersion(undefined, "<maven.compiler.target>1.8</maven.compiler.target>"), "8");
  assert.equal(askedJavaVersion(undefined, "<project/>"), undefined);
  const cases: Array<[string | undefined, string, string, boolean]> = [
    [undefined, "java17", "bookworm", true],
    ["8", "java17", "bookworm", false],
    ["11", "java17", "bookworm", false],
    ["17", "java17", "bookworm", true],
    ["21", "java21", "trixie", true],
    ["25", "java25", "trixie", true],
  ];
  for (const [asked, name, suite, exact] of cases) {
    const choice = chooseLanguageImage("java", asked);
    assert.equal(choice.recipe.name, name, String(asked));
    assert.equal(choice.exact, exact);
    const recipe = findRecipe(name)!;
    assert.equal(recipe.kind === "debian" && recipe.suite, suite);
    // The run image is JRE-only; its builder is the same suite's JDK with Maven.
    assert.ok(recipe.kind === "debian" && recipe.packages.includes(`openjdk-${choice.recipe.runs.version}-jre-headless`));
    const jdk = findRecipe(recipe.builder!)!;
    assert.ok(jdk.kind === "debian" && jdk.suite === suite && jdk.packages.includes(`openjdk-${choice.recipe.runs.version}-jdk-headless`) && jdk.packages.includes("maven"));
  }
  assert.equal(describeChoice(chooseLanguageImage("java", "11"), "17.0.21.1"), "Java 17.0.21.1 (nearest newer: no Debian suite carries Java 11)");
  assert.throws(() => chooseLanguageImage("java", "26"), (e: unknown) => e instanceof StrataError && /java17 \(Java 17\), java21 \(Java 21\), java25 \(Java 25\)/.test(e.message));
});

test("a Gradle build is refused naming the wrapper's distribution, or Debian's old gradle when there is no wrapper", async (t) => {
  const wrapped = await gradleUnsupported(join(REPO, "test/fixtures/apps/gradle-wrapper"), "build.gradle.kts");
  assert.match(wrapped.message, /gradle-8\.14-bin\.zip, which a Strata build cannot download/);
  assert.match(wrapped.message, /add a pom\.xml/);
  const bare = await gradleUnsupported(await folder(t, { "build.gradle": "" }), "build.gradle");
  assert.match(bare.message, /4\.4\.1 \(bookworm, trixie\) or 4\.7 \(forky\)/);
});

test("Rust versions: runtime rust1NN, Cargo.toml rust-version, Cargo.lock v4 (cargo 1.78+); 1.63 bookworm, 1.85 trixie, 1.97 forky", () => {
  const manifest = readCargoManifest('[package]\nname = "web"\nrust-version = "1.80.1"\n');
  assert.deepEqual(manifest, { bins: ["web"], rustVersion: "1.80" });
  assert.deepEqual(readCargoManifest('[package]\nname = "x"\n[[bin]]\nname = "api"\n[[bin]]\nname = "worker"\n').bins, ["api", "worker"]);
  assert.throws(() => readCargoManifest("[package\n"), /Cargo\.toml is not valid TOML/);
  assert.equal(askedRustVersion("rust197", manifest, null), "1.97");
  assert.equal(askedRustVersion(undefined, manifest, "version = 4\n"), "1.80");
  assert.equal(askedRustVersion(undefined, { bins: ["x"] }, "# generated\nversion = 4\n"), "1.78");
  assert.equal(askedRustVersion(undefined, { bins: ["x"] }, "version = 3\n"), undefined);
  const cases: Array<[string | undefined, string, boolean]> = [
    [undefined, "rust", true],
    ["1.63", "rust", true],
    ["1.68", "rust185", false],
    ["1.78", "rust185", false],
    ["1.85", "rust185", true],
    ["1.90", "rust197", false],
    ["1.97", "rust197", true],
  ];
  for (const [asked, name, exact] of cases) {
    const choice = chooseLanguageImage("rust", asked);
    assert.equal(choice.recipe.name, name, String(asked));
    assert.equal(choice.exact, exact, String(asked));
  }
  assert.equal(runtimeLanguage("rust185"), "rust");
});

test("C/C++: CMake before Meson before Make; the entrypoint's first word is the binary, inside the app", async (t) => {
  assert.equal((await detectBuildSystem(await folder(t, { Makefile: "", "CMakeLists.txt": "" }))).name, "cmake");
  assert.equal((await detectBuildSystem(await folder(t, { Makefile: "", "meson.build": "" }))).name, "meson");
  assert.equal((await detectBuildSystem(await folder(t, { Makefile: "" }))).name, "make");
  await assert.rejects(detectBuildSystem(await folder(t, { "main.c": "" })), /CMakeLists\.txt, meson\.build or Makefile/);
  assert.equal(binaryOf("./server"), "./server");
  assert.equal(binaryOf("build/server --port $PORT"), "./build/server");
  assert.equal(binaryOf("LOG=1 exec /app/server"), "./server");
  for (const bad of ["../x", "$(whoami)", "/usr/bin/env x"]) assert.throws(() => binaryOf(bad), /must start with the binary/, bad);
});

test("ldd's output becomes loader paths and the files they are; /lib paths live under merged /usr", () => {
  const libs = parseLibraries(
    "/lib/x86_64-linux-gnu/libmicrohttpd.so.12 /usr/lib/x86_64-linux-gnu/libmicrohttpd.so.12.60.0\n/lib64/ld-linux-x86-64.so.2 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n\n",
  );
  assert.deepEqual(libs.map((l) => l.path), ["/lib/x86_64-linux-gnu/libmicrohttpd.so.12", "/lib64/ld-linux-x86-64.so.2"]);
  assert.equal(libs[0]!.real, "/usr/lib/x86_64-linux-gnu/libmicrohttpd.so.12.60.0");
  assert.equal(underUsr("/lib64/ld-linux-x86-64.so.2"), "/usr/lib64/ld-linux-x86-64.so.2");
  assert.equal(underUsr("/usr/lib/x.so"), "/usr/lib/x.so");
});
