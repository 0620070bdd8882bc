import { StrataError } from "../../errors.js";
import { nodeRecipes } from "../../images/index.js";
import semver from "semver";

/**
 * Which base image a Node.js app builds on. app.yaml `runtime: nodejsNN` names the major; without a
 * version (`nodejs`, or no runtime) package.json `engines.node` chooses the OLDEST major that satisfies
 * it, so an app moves to a newer major when it says so, not when Strata adds one; with neither, Debian's
 * nodejs package (it follows Debian's security updates, where the npm-registry builds are pinned).
 */

export interface NodeImage {
  /** The image catalog's recipe name: `nodejs` (Debian's), `nodejs20`, `nodejs22`. */
  readonly image: string;
  /** The exact Node.js version the image carries. */
  readonly node: string;
  readonly major: number;
}

export interface NodeImageChoice {
  readonly image: NodeImage;
  /** The runtime the build reports: `nodejsNN` of the image's major. */
  readonly runtime: string;
  /** Why this image, for the build log. */
  readonly reason: string;
  /** Said in the build log when app.yaml's runtime and package.json's engines.node disagree. */
  readonly warning?: string;
}

/** The image for an app that states no Node.js version. */
export const DEFAULT_NODE_IMAGE = "nodejs";

/** The Node.js images the catalog can build, oldest major first. */
export function nodeImages(): NodeImage[] {
  return nodeRecipes().map((r) => ({ image: r.name, node: r.node, major: Number.parseInt(r.node, 10) }));
}

export function chooseNodeImage(runtime: string | undefined, engines: string | undefined, images: readonly NodeImage[] = nodeImages()): NodeImageChoice {
  const available = images.map((i) => `nodejs${i.major} (Node ${i.node})`).join(", ");
  const wanted = /^nodejs(\d+)$/.exec(runtime ?? "");
  if (wanted) {
    const image = images.find((i) => i.major === Number(wanted[1]));
    if (!image) {
      throw new StrataError("UNSUPPORTED_RUNTIME", `runtime ${runtime}: Strata has no Node.js ${wanted[1]} image; the Node.js runtimes it builds are ${available}`, {
        runtime,
        available: images.map((i) => `nodejs${i.major}`),
      });
    }
    const disagrees = engines !== undefined && !admits(image, engines);
    return {
      image,
      runtime: `nodejs${image.major}`,
      reason: `app.yaml runtime ${runtime}`,
      ...(disagrees && { warning: `package.json engines.node "${engines}" does not admit Node ${image.node}; app.yaml's runtime ${runtime} decides` }),
    };
  }
  if (engines !== undefined) {
    const image = images.find((i) => admits(i, engines));
    if (!image) {
      throw new StrataError(
        "BUILD_FAILED",
        `package.json engines.node "${engines}" admits none of the Node.js versions Strata builds: ${available}. ` +
          `Widen engines.node, or set app.yaml \`runtime:\` to one of those runtimes.`,
        { engines, available: images.map((i) => `nodejs${i.major}`) },
      );
    }
    return { image, runtime: `nodejs${image.major}`, reason: `package.json engines.node "${engines}" (the oldest major that satisfies it)` };
  }
  const image = images.find((i) => i.image === DEFAULT_NODE_IMAGE);
  if (!image) throw new StrataError("INTERNAL", `no ${DEFAULT_NODE_IMAGE} image among the Node.js images (${available})`);
  return { image, runtime: `nodejs${image.major}`, reason: `no Node.js version stated (app.yaml runtime: nodejsNN or package.json engines.node): Debian's nodejs` };
}

/** semver's own reading of engines.node, as npm reads it. */
function admits(image: NodeImage, engines: string): boolean {
  if (semver.validRange(engines) === null) {
    throw new StrataError("BUILD_FAILED", `package.json engines.node "${engines}" is not a semver range (e.g. ">=20" or "20.x")`, { engines });
  }
  return semver.satisfies(image.node, engines);
}
