import assert from "node:assert/strict";
import { hostLoopbackListener } from "../helpers/host-listener.js";
import { appendFile, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { PythonBuilder } from "../../../src/build/python/builder.js";
import { imageToolsMissing } from "../images/shared-store.js";
import { assertStandardImage, buildContext, runInImage, sourceCopy } from "./build-harness.js";
import { buildWheel } from "./wheel.js";
import { detectAppKind, type DetectSpec } from "../../../src/build/detect.js";

const missing = await imageToolsMissing();
const FIXTURES = new URL("../../fixtures/apps/", import.meta.url).pathname;
const EXAMPLE = new URL("../../../examples/python-app/", import.meta.url).pathname;
const builder = new PythonBuilder();

/** Detection is build/detect.ts's alone: whether it picks this builder's kind (python) for a folder. */
const detectsAs = async (dir: string, spec: DetectSpec): Promise<boolean> => (await detectAppKind(dir, spec)) === "python";

test("python detection: markers and app.yaml runtime", async (t) => {
  assert.equal(await detectsAs(EXAMPLE, {}), true);
  assert.equal(await detectsAs(EXAMPLE, { runtime: "nodejs20" }), false);
  assert.equal(await detectsAs(join(FIXTURES, "node-build"), {}), false);
  const empty = await sourceCopy(t, join(FIXTURES, "node-build"));
  assert.equal(await detectsAs(empty, { runtime: "python312" }), true);
});

test("the python example builds into a runnable OCI image", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const ctx = buildContext(t, EXAMPLE, { runtime: "python311" });
  const result = await builder.build(ctx);
  assert.equal(result.image.ref, `apps/${ctx.app}:v1`);
  assert.equal(result.runtime, "python311");
  const image = await ctx.layout.resolve(result.image.ref!);
  assert.deepEqual(image.config.config.Entrypoint, ["/bin/sh", "-c", "exec gunicorn -b :$PORT main:app"]);
  assert.equal(image.config.config.User, "65534:65534");
  assert.equal(image.config.config.WorkingDir, "/app");
  assert.ok(image.config.config.Env?.some((e) => e.startsWith("PATH=/app/.venv/bin:")));
  const inspect = await assertStandardImage(ctx, result.image.ref!);
  assert.equal(inspect.Digest, result.image.digest);
  assert.equal(inspect.Layers.length, 3, "base, dependencies, app");
  // gunicorn resolves to the venv launcher and imports with the venv's python; the app module loads.
  const out = await runInImage(ctx, image, ["/bin/sh", "-c", "command -v gunicorn && python3 -c 'import gunicorn, main; print(main.app.__name__)'"]);
  assert.equal(out.trim(), "/app/.venv/bin/gunicorn\napp");
});

test("dependencies come from vendored wheels, offline, and a code-only change reuses their layer", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const src = await sourceCopy(t, join(FIXTURES, "python-wheel"));
  const wheel = buildWheel("tinygreet", "0.1.0", { "tinygreet/__init__.py": "def greet(path):\n    return 'hello ' + path\n" });
  await mkdir(join(src, "wheels"));
  await writeFile(join(src, "wheels", wheel.filename), wheel.data);
  // A unique comment makes this run's dependency key new, so the first build really installs.
  await appendFile(join(src, "requirements.txt"), `# run ${process.pid}-${Date.now()}\n`);

  const ctx = buildContext(t, src, { runtime: "python311" });
  const first = await builder.build(ctx);
  assert.equal(first.cached.dependencies, false);
  assert.ok(ctx.lines.some((l) => /Successfully installed tinygreet-0\.1\.0/.test(l)), ctx.lines.join("\n"));

  await appendFile(join(src, "main.py"), "\n# a code-only change\n");
  const ctx2 = { ...ctx, version: "v2" };
  const started = Date.now();
  const second = await builder.build(ctx2);
  t.diagnostic(`code-only rebuild: ${((Date.now() - started) / 1000).toFixed(2)} s`);
  assert.equal(second.cached.dependencies, true);
  const [one, two] = await Promise.all([ctx.layout.resolve(first.image.ref!), ctx.layout.resolve(second.image.ref!)]);
  assert.equal(two.manifest.layers[1]!.digest, one.manifest.layers[1]!.digest, "same dependency layer");
  assert.notEqual(two.manifest.layers[2]!.digest, one.manifest.layers[2]!.digest, "new app layer");
  await assertStandardImage(ctx, second.image.ref!);
  const out = await runInImage(ctx, two, ["python3", "-c", "import main, tinygreet; print(tinygreet.greet('/x'))"]);
  assert.equal(out.trim(), "hello /x");
});

test("a requirement no wheel or index provides fails the build with pip's reason and what to do", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const ctx = buildContext(t, join(FIXTURES, "python-unresolvable"), { runtime: "python311" });
  await assert.rejects(builder.build(ctx), (err: Error & { code?: string }) => {
    assert.equal(err.code, "BUILD_FAILED");
    assert.match(err.message, /No matching distribution found for strata-fixture-no-such-package==9\.9\.9/);
    assert.match(err.message, /vendor a wheel in wheels\/.*pip\.index-url/);
    return true;
  });
  assert.equal(await ctx.layout.find(`apps/${ctx.app}:v1`), null, "no image for a failed build");
});

test("pip with an index has a network of its own: an index on the host's loopback is out of reach", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const listener = await hostLoopbackListener(t);
  const index = `http://127.0.0.1:${listener.port}/simple`;
  const ctx = { ...buildContext(t, join(FIXTURES, "python-unresolvable"), { runtime: "python311" }), pipIndexUrl: index };
  await assert.rejects(builder.build(ctx), (err: Error & { code?: string }) => {
    assert.equal(err.code, "BUILD_FAILED");
    assert.match(err.message, /Connection refused/);
    assert.match(err.message, /address other than the host's loopback/);
    return true;
  });
  assert.equal(listener.connections(), 0, "the host's listener saw no connection");
});

test("app.yaml entrypoint and Procfile web: decide the start command", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const src = await sourceCopy(t, EXAMPLE);
  await writeFile(join(src, "Procfile"), "web: gunicorn --workers 2 -b :$PORT main:app\n");
  const fromProcfile = await builder.build(buildContext(t, src, { runtime: "python311" }));
  const ctx = buildContext(t, src, { runtime: "python311", entrypoint: "python3 -m http.server $PORT" });
  const fromSpec = await builder.build(ctx);
  const [a, b] = await Promise.all([ctx.layout.resolve(fromProcfile.image.ref!), ctx.layout.resolve(fromSpec.image.ref!)]);
  assert.deepEqual(a.config.config.Entrypoint, ["/bin/sh", "-c", "exec gunicorn --workers 2 -b :$PORT main:app"]);
  assert.deepEqual(b.config.config.Entrypoint, ["/bin/sh", "-c", "exec python3 -m http.server $PORT"]);
});

test("without requirements.txt, pyproject.toml [project].dependencies are installed", { skip: missing ?? false, timeout: 20 * 60_000 }, async (t) => {
  const src = await sourceCopy(t, join(FIXTURES, "python-wheel"));
  const wheel = buildWheel("tinygreet", "0.1.0", { "tinygreet/__init__.py": "def greet(path):\n    return 'hi ' + path\n" });
  await mkdir(join(src, "vendor"));
  await writeFile(join(src, "vendor", wheel.filename), wheel.data);
  await rm(join(src, "requirements.txt"));
  await writeFile(join(src, "pyproject.toml"), `[project]\nname = "fixture-${process.pid}-${Date.now()}"\nversion = "1"\ndependencies = ["tinygreet==0.1.0"]\n`);
  const ctx = buildContext(t, src, {});
  const result = await builder.build(ctx);
  assert.equal(result.runtime, "python311");
  const out = await runInImage(ctx, await ctx.layout.resolve(result.image.ref!), ["python3", "-c", "import tinygreet; print(tinygreet.greet('/'))"]);
  assert.equal(out.trim(), "hi /");
});
