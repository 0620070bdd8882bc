import assert from "node:assert/strict";
import { test } from "node:test";
import type { ImageRef, Prepared } from "../../../src/sandbox/driver.js";
import { PreparedCache, requireOciImage } from "../../../src/sandbox/prepared-cache.js";

const made = (key: string, n: number): Prepared<number> => ({ driver: "runc", key, data: n });

test("concurrent prepares of one key share one preparation; release makes the next one anew", async () => {
  const cache = new PreparedCache<number>();
  let calls = 0;
  const make = async () => made("k", ++calls);
  const [a, b] = await Promise.all([cache.get("k", make), cache.get("k", make)]);
  assert.equal(calls, 1);
  assert.equal(a, b);
  cache.forget("k");
  assert.equal((await cache.get("k", make)).data, 2);
});

test("a failed preparation reaches its caller and is tried again by the next prepare", async () => {
  const cache = new PreparedCache<number>();
  await assert.rejects(cache.get("k", async () => { throw new Error("disk full"); }), /disk full/);
  assert.equal((await cache.get("k", async () => made("k", 7))).data, 7);
});

test("a preparation that is no longer valid (its layers were collected) is made again", async () => {
  let valid = true;
  const cache = new PreparedCache<number>(async () => valid);
  let calls = 0;
  const make = async () => made("k", ++calls);
  await cache.get("k", make);
  assert.equal((await cache.get("k", make)).data, 1);
  valid = false;
  assert.equal((await cache.get("k", make)).data, 2);
});

test("an image that is not OCI is refused with the driver's name", () => {
  const image: ImageRef = { kind: "isolate-bundle", path: "/x", digest: "sha256:0" };
  assert.throws(() => requireOciImage("lxc", image), (err: Error & { code?: string }) => err.code === "INVALID_ARGUMENT" && /the lxc driver runs OCI images, not isolate-bundle/.test(err.message));
});
