import assert from "node:assert/strict";
import { test } from "node:test";
import { chooseNodeImage, nodeImages, type NodeImage } from "../../../src/build/nodejs/node-image.js";

/** A fixed table, so the cases below do not move when the recipes' pins do. */
const IMAGES: readonly NodeImage[] = [
  { image: "nodejs", node: "18.20.4", major: 18 },
  { image: "nodejs20", node: "20.20.2", major: 20 },
  { image: "nodejs22", node: "22.23.3", major: 22 },
];

const code = (c: string) => (err: Error & { code?: string }) => err.code === c;

test("app.yaml runtime nodejsNN picks that major's image, whatever engines says (with a warning when it disagrees)", () => {
  for (const [runtime, image] of [["nodejs18", "nodejs"], ["nodejs20", "nodejs20"], ["nodejs22", "nodejs22"]] as const) {
    const choice = chooseNodeImage(runtime, undefined, IMAGES);
    assert.equal(choice.image.image, image);
    assert.equal(choice.runtime, runtime);
    assert.equal(choice.warning, undefined);
  }
  assert.equal(chooseNodeImage("nodejs20", ">=18", IMAGES).warning, undefined);
  const disagreeing = chooseNodeImage("nodejs20", "22.x", IMAGES);
  assert.equal(disagreeing.image.image, "nodejs20");
  assert.match(disagreeing.warning ?? "", /engines\.node "22\.x" does not admit Node 20\.20\.2/);
  assert.throws(
    () => chooseNodeImage("nodejs24", undefined, IMAGES),
    (err: Error & { code?: string }) => err.code === "UNSUPPORTED_RUNTIME" && /nodejs18 \(Node 18\.20\.4\), nodejs20 \(Node 20\.20\.2\), nodejs22/.test(err.message),
  );
});

test("without a versioned runtime, engines.node picks the oldest major that satisfies it", () => {
  const cases: Array<[runtime: string | undefined, engines: string, image: string]> = [
    [undefined, ">=20", "nodejs20"],
    [undefined, "20.x", "nodejs20"],
    [undefined, "^22.1", "nodejs22"],
    [undefined, ">=18", "nodejs"],
    ["nodejs", ">=21", "nodejs22"],
    [undefined, "18 || 22", "nodejs"],
    [undefined, "*", "nodejs"],
  ];
  for (const [runtime, engines, image] of cases) {
    const choice = chooseNodeImage(runtime, engines, IMAGES);
    assert.equal(choice.image.image, image, `${runtime} ${engines}`);
    assert.equal(choice.runtime, `nodejs${choice.image.major}`);
    assert.match(choice.reason, /engines\.node/);
  }
  assert.throws(
    () => chooseNodeImage(undefined, ">=24", IMAGES),
    (err: Error & { code?: string }) =>
      err.code === "BUILD_FAILED" && /engines\.node ">=24" admits none/.test(err.message) && /nodejs18 .*nodejs20 .*nodejs22/.test(err.message),
  );
  assert.throws(() => chooseNodeImage(undefined, "^18.20.5", IMAGES), code("BUILD_FAILED"), "a patch Debian does not have yet");
  assert.throws(() => chooseNodeImage("nodejs", "lts", IMAGES), (err: Error & { code?: string }) => err.code === "BUILD_FAILED" && /not a semver range/.test(err.message));
});

test("with no Node.js version stated, the app gets Debian's nodejs image", () => {
  for (const runtime of [undefined, "nodejs"]) {
    const choice = chooseNodeImage(runtime, undefined, IMAGES);
    assert.equal(choice.image.image, "nodejs");
    assert.equal(choice.runtime, "nodejs18");
  }
});

test("the catalog's Node.js images: Debian's 18, and 20 and 22 from the npm registry", () => {
  const images = nodeImages();
  assert.deepEqual(images.map((i) => [i.image, i.major]), [["nodejs", 18], ["nodejs20", 20], ["nodejs22", 22]]);
  for (const i of images) assert.match(i.node, new RegExp(`^${i.major}\\.\\d+\\.\\d+$`));
  assert.equal(chooseNodeImage("nodejs20", undefined).image.image, "nodejs20");
});
