import assert from "node:assert/strict";
import { test } from "node:test";
import { DockerfileBuilder } from "../../../src/build/dockerfile/index.js";
import { StrataError } from "../../../src/errors.js";
import { dockerContext, fileHome, missing, sourceDir } from "./harness.js";

const home = missing ? undefined : await fileHome();
const opts = { skip: missing ?? false, timeout: 20 * 60_000 };

async function buildFails(t: import("node:test").TestContext, dockerfile: string): Promise<StrataError> {
  const ctx = dockerContext(t, home!, await sourceDir(t, { Dockerfile: dockerfile }));
  const err = await new DockerfileBuilder().build(ctx).then(
    () => assert.fail("the build succeeded"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StrataError, String(err));
  assert.equal(err.code, "BUILD_FAILED", err.message);
  assert.equal(await ctx.layout.find(`apps/${ctx.app}:v1`), null, "a failed build stores no image");
  return err;
}

test("an unknown instruction fails with buildah's message and the step", opts, async (t) => {
  const err = await buildFails(t, "FROM debian:bookworm\nRUN true\nFROOM debian\n");
  assert.match(err.message, /at step 3\/3: FROOM debian/);
  assert.match(err.message, /Unknown instruction: "FROOM"/);
  assert.doesNotMatch(err.message, /imagebuilder\.Step\{/, "buildah's struct dump is left out");
  assert.equal(err.details?.step, "3/3");
});

test("a syntax error fails with buildah's message and the step", opts, async (t) => {
  const err = await buildFails(t, "FROM debian:bookworm\nENV\n");
  assert.match(err.message, /at step 2\/2: ENV/);
  assert.match(err.message, /ENV requires at least one argument/);
});

test("a failing RUN fails with its exit status, the step and its output", opts, async (t) => {
  const err = await buildFails(t, "FROM debian:bookworm\nRUN echo preparing && echo 'no such thing' >&2 && exit 3\nRUN echo never\n");
  assert.match(err.message, /at step 2\/3: RUN echo preparing/);
  assert.match(err.message, /exit status 3/);
  assert.match(err.message, /no such thing/);
  // The step's stdout and stderr reach buildah through two pipes, whose lines keep no order between them.
  assert.deepEqual([...(err.details?.output as string[])].sort(), ["no such thing", "preparing"]);
});

test("FROM an image that is neither built nor imported fails, listing what is available", opts, async (t) => {
  const err = await buildFails(t, "FROM debian:bookworm AS base\nFROM alpine:3.19\nCOPY --from=base /etc/os-release /\n");
  assert.match(err.message, /line 2: FROM alpine:3\.19: image not available/);
  for (const name of ["debian:bookworm", "python:3.11", "node:18", "ruby:3.1", "golang:1.19", "php:8.2"]) assert.match(err.message, new RegExp(name.replace(".", "\\.")));
  assert.match(err.message, /strata images import <oci-archive\|docker-archive\|rootfs\.tar> alpine:3\.19/);
});

test("FROM a version the catalog cannot honestly provide says why", opts, async (t) => {
  const err = await buildFails(t, "FROM node:21\n");
  assert.match(err.message, /FROM node:21: .*Strata builds Node\.js .*\(node:20\)/);
});
