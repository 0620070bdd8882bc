import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFile, cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, TestDaemon } from "./harness.js";

const RUBY = join(REPO, "examples", "ruby-app");
let d: TestDaemon;
let work: string;
let unavailableReason: string | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "strata-dockerfile-"));
  d = await TestDaemon.start();
  unavailableReason = await d.driverUnavailable("runc");
});

after(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
});

test("the Ruby example builds from its Dockerfile, streams its steps, and serves as USER nobody", { timeout: 900_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const r = await d.cli(["deploy", RUBY, "--version", "v1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /RUN ruby -e/);
  const home = await d.request("ruby-app.localhost", "/");
  assert.equal(home.status, 200, home.text);
  assert.match(home.text, /Hello from Ruby 3\.1/);
  const env = JSON.parse((await d.request("ruby-app.localhost", "/env")).text) as { user: number; port: string };
  assert.equal(env.user, 65534, "USER nobody in the Dockerfile");
  assert.equal(env.port, "8080");
});

test("a rebuild with only code changed reports cached steps", { timeout: 600_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "ruby-v2");
  await cp(RUBY, dir, { recursive: true });
  await appendFile(join(dir, "app.rb"), "\n# a code-only change\n");
  const r = await d.cli(["deploy", dir, "--app", "ruby-app", "--version", "v2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Using cache/);
  assert.equal((await d.request("ruby-app.localhost", "/")).status, 200);
});

test("a Dockerfile with an unknown instruction fails the deploy with buildah's message, and the previous version keeps serving", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "ruby-bad");
  await cp(RUBY, dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), "FROM ruby:3.1\nFROBNICATE now\nCMD [\"ruby\", \"app.rb\"]\n");
  const r = await d.cli(["deploy", dir, "--app", "ruby-app", "--version", "bad"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /FROBNICATE|unknown instruction/i);
  assert.equal((await d.request("ruby-app.localhost", "/")).status, 200);
});

test("a failing RUN step names the step", { timeout: 300_000 }, async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const dir = join(work, "ruby-run-fails");
  await cp(RUBY, dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), "FROM ruby:3.1\nRUN echo about to fail && exit 7\nCMD [\"ruby\", \"app.rb\"]\n");
  const r = await d.cli(["deploy", dir, "--app", "ruby-app", "--version", "bad2"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /exit 7|exit status 7/);
  assert.equal((await d.request("ruby-app.localhost", "/")).status, 200);
});

test("strata images lists the catalog with what is built", async (t) => {
  if (unavailableReason) return t.skip(unavailableReason);
  const list = JSON.parse(await d.cliOk(["images", "--json"])) as Array<{ name: string; built: boolean; aliases: string[] }>;
  const ruby = list.find((i) => i.name === "ruby");
  assert.ok(ruby?.built);
  assert.ok(ruby.aliases.includes("ruby:3.1"));
  assert.ok(list.some((i) => i.name === "python"));
});
