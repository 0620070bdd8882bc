import assert from "node:assert/strict";
import { hostLoopbackListener } from "../helpers/host-listener.js";
import { readdir } from "node:fs/promises";
import { test } from "node:test";
import { DockerfileBuilder } from "../../../src/build/dockerfile/index.js";
import { StrataError } from "../../../src/errors.js";
import { dockerContext, fileHome, missing, sourceDir } from "./harness.js";

const home = missing ? undefined : await fileHome();
const opts = { skip: missing ?? false, timeout: 20 * 60_000 };

/** Network namespaces and pids cgroups whose name carries `app`: what a build left behind. */
async function leftovers(app: string): Promise<string[]> {
  const netns = await readdir("/run/netns").catch(() => [] as string[]);
  const cgroups = await readdir("/sys/fs/cgroup/pids");
  return [...netns, ...cgroups].filter((n) => n.includes(app));
}

test("a RUN step cannot reach a service on the host's loopback", opts, async (t) => {
  const listener = await hostLoopbackListener(t);
  const port = listener.port;

  // 127.0.0.1 inside the build is the build's own loopback; 10.0.2.2 is slirp4netns's alias for the
  // host's, refused by --disable-host-loopback.
  for (const [address, expected] of [
    ["127.0.0.1", /Connection refused/],
    ["10.0.2.2", /Network is unreachable|Connection refused/],
  ] as const) {
    const ctx = dockerContext(t, home!, await sourceDir(t, { Dockerfile: `FROM debian:bookworm\nRUN ["bash", "-c", "echo hello > /dev/tcp/${address}/${port}"]\n` }));
    const err = await new DockerfileBuilder().build(ctx).then(
      () => assert.fail(`a RUN step reached ${address}:${port} on the host`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StrataError && err.code === "BUILD_FAILED", String(err));
    assert.match(err.message, expected);
    assert.deepEqual(await leftovers(ctx.app), [], "the build's netns and cgroups are gone");
  }
  assert.equal(listener.connections(), 0, "the host listener saw no connection");
});

test("the processes of a build's RUN steps are capped by its pids cgroup", opts, async (t) => {
  const ctx = dockerContext(t, home!, await sourceDir(t, { Dockerfile: "FROM debian:bookworm\nRUN for i in $(seq 100); do sleep 30 & done; wait\n" }));
  const err = await new DockerfileBuilder({ limits: { pids: 40 } }).build(ctx).then(
    () => assert.fail("100 processes started under a limit of 40"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StrataError && err.code === "BUILD_FAILED", String(err));
  assert.match(err.message, /Cannot fork|Resource temporarily unavailable/);
  assert.deepEqual(await leftovers(ctx.app), []);
});

test("a build with RUN steps leaves no namespace or cgroup behind", opts, async (t) => {
  const ctx = dockerContext(t, home!, await sourceDir(t, { Dockerfile: "FROM debian:bookworm\nRUN cat /etc/resolv.conf && test -e /sys/class/net/tap0\n" }));
  const result = await new DockerfileBuilder().build(ctx);
  assert.ok(result.image.ref);
  assert.ok(ctx.lines.includes("nameserver 10.0.2.3"), "RUN steps resolve through slirp4netns's DNS forwarder");
  assert.deepEqual(await leftovers(ctx.app), []);
});
