import assert from "node:assert/strict";
import { test } from "node:test";
import { exposedPort } from "../../../src/build/dockerfile/exposed-port.js";
import { baseImageUses } from "../../../src/build/dockerfile/from-lines.js";
import { canonicalImageName } from "../../../src/images/import.js";

test("FROM lines name the images a build needs; stages, scratch and stage indexes are not images", () => {
  const uses = baseImageUses(
    [
      "# syntax comment",
      "ARG GO=1.19",
      "FROM --platform=linux/amd64 golang:${GO} AS Build",
      "RUN go build \\",
      "  -o /out/app .",
      "FROM build AS test",
      "FROM scratch",
      "COPY --from=build /out/app /app",
      "COPY --from=0 /out/app /app2",
      "COPY --from=tools:1 /bin/tool /tool",
      "from debian:bookworm",
    ].join("\n"),
  );
  assert.deepEqual(uses, [
    { image: "golang:1.19", line: 3, instruction: "FROM" },
    { image: "tools:1", line: 10, instruction: "COPY --from" },
    { image: "debian:bookworm", line: 11, instruction: "FROM" },
  ]);
});

test("global ARGs substitute into FROM with Docker's default and alternative forms; continuations keep the first line", () => {
  const uses = baseImageUses(
    ["ARG BASE", "ARG TAG=3.1", 'ARG EMPTY=""', "FROM ${BASE:-ruby}:$TAG", "FROM node${EMPTY:+-never}:18", "FROM \\", "  debian:12"].join("\n"),
  );
  assert.deepEqual(
    uses.map((u) => [u.image, u.line]),
    [
      ["ruby:3.1", 4],
      ["node:18", 5],
      ["debian:12", 6],
    ],
  );
});

test("the escape parser directive changes the continuation character", () => {
  const uses = baseImageUses(["# escape=`", "FROM `", "  php:8.2", "RUN echo \\"].join("\n"));
  assert.deepEqual(uses.map((u) => u.image), ["php:8.2"]);
});

test("image names are read as Docker reads them", () => {
  assert.equal(canonicalImageName("ruby"), "ruby:latest");
  assert.equal(canonicalImageName("docker.io/library/ruby:3.1"), "ruby:3.1");
  assert.equal(canonicalImageName("library/ruby:3.1"), "ruby:3.1");
  assert.equal(canonicalImageName("registry.example.com:5000/team/app"), "registry.example.com:5000/team/app:latest");
  assert.throws(() => canonicalImageName("ruby@sha256:abc"), /by digest/);
});

test("the exposed port is the one TCP port an image exposes", () => {
  assert.equal(exposedPort({ ExposedPorts: { "8080/tcp": {} } }), 8080);
  assert.equal(exposedPort({ ExposedPorts: { "9000": {} } }), 9000);
  assert.equal(exposedPort({ ExposedPorts: { "53/udp": {} } }), undefined);
  assert.equal(exposedPort({ ExposedPorts: { "80/tcp": {}, "443/tcp": {} } }), undefined);
  assert.equal(exposedPort({}), undefined);
});
