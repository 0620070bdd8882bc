import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { waitForHttp } from "../../src/sandbox/conformance/index.js";
import type { Instance } from "../../src/sandbox/driver.js";

/**
 * For the VM-class snapshot tests: a command for the conformance image in which busybox httpd serves
 * `ok` at /, its /etc/hosts at /hosts and, at /cgi-bin/rand, 16 fresh random bytes, the guest's clock and
 * its hostname.
 */
export const SNAPSHOT_PROBE_APP = [
  "/bin/sh", "-c",
  [
    "mkdir -p /tmp/www/cgi-bin",
    `printf '#!/bin/sh\\nprintf "Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n"\\nhead -c 16 /dev/urandom | od -An -tx1 | tr -d " \\\\n"; echo; date +%%s\\nhostname\\n' > /tmp/www/cgi-bin/rand`,
    "chmod +x /tmp/www/cgi-bin/rand",
    "echo ok > /tmp/www/index.html",
    "ln -s /etc/hosts /tmp/www/hosts",
    "echo serving",
    "exec httpd -f -p 8080 -h /tmp/www",
  ].join("; "),
];

/** The .vmstate files under a snapshot store's directory. */
export async function snapshotStates(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).filter((f) => f.endsWith(".vmstate"));
}

/** Waits (bounded) until the store holds a snapshot. */
export async function waitForSnapshot(dir: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && (await snapshotStates(dir)).length === 0) await sleep(100);
  assert.equal((await snapshotStates(dir)).length, 1, `a snapshot was taken within ${ms} ms of the first instance listening`);
}

/**
 * Asserts what restores from one snapshot must each have: their own address, their own hostname (the
 * instance id), the host's clock, and random bytes of their own.
 */
export async function assertDistinctRestores(a: Instance, b: Instance): Promise<void> {
  assert.match(a.detail ?? "", /restored/);
  assert.match(b.detail ?? "", /restored/);
  assert.notDeepEqual(a.endpoint, b.endpoint);
  const [ra, rb] = [(await waitForHttp(a.endpoint, "/cgi-bin/rand", 30_000)).body, (await waitForHttp(b.endpoint, "/cgi-bin/rand", 30_000)).body];
  const [tokenA, clockA, hostA] = ra.trim().split("\n");
  const [tokenB, clockB, hostB] = rb.trim().split("\n");
  assert.match(tokenA ?? "", /^[0-9a-f]{32}$/);
  assert.notEqual(tokenA, tokenB, "two instances restored from one snapshot draw different random bytes");
  for (const clock of [clockA, clockB]) assert.ok(Math.abs(Number(clock) - Date.now() / 1000) < 10, `the restored guest's clock is the host's (got ${clock})`);
  assert.deepEqual([hostA, hostB], [a.id, b.id], "each restored guest is named after its own instance");
}

/** Asserts that the instance's /etc/hosts names it, at its own address. */
export async function assertHostsNameIt(i: Instance): Promise<void> {
  const { host } = i.endpoint as { host: string };
  const hosts = (await waitForHttp(i.endpoint, "/hosts", 30_000)).body;
  assert.ok(hosts.split("\n").includes(`${host}\t${i.id}`), `/etc/hosts names ${i.id} at ${host}:\n${hosts}`);
}
