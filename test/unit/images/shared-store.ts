import type { TestContext } from "node:test";
import { StrataHome } from "../../../src/home.js";
import { ImageCatalog, imagePaths } from "../../../src/images/catalog.js";
import { OciLayout } from "../../../src/images/layout.js";
import { exec, which } from "../../../src/system/exec.js";

/**
 * Base images take minutes to bootstrap, so every image and buildpack test file shares one image store
 * that outlives the test run: STRATA_TEST_IMAGES, default /var/tmp/strata-test-images. The first run
 * builds the base images; later runs (and later files in the same run) hit the cache.
 */
export const SHARED_IMAGES_ROOT = process.env.STRATA_TEST_IMAGES ?? "/var/tmp/strata-test-images";

export function sharedImageStore(): { home: StrataHome; layout: OciLayout; catalog: ImageCatalog } {
  const home = new StrataHome(SHARED_IMAGES_ROOT);
  const layout = new OciLayout(imagePaths(home).layout);
  return { home, layout, catalog: new ImageCatalog(home, layout) };
}

/** Why image bootstrap and build steps cannot run here, or null when they can. */
export async function imageToolsMissing(tools: readonly string[] = ["mmdebstrap", "runc", "tar", "setfattr", "getfattr", "skopeo", "umoci"]): Promise<string | null> {
  if (process.getuid?.() !== 0) return "needs root (mmdebstrap --mode=root, overlay mounts, runc)";
  const missing: string[] = [];
  for (const t of tools) if (!(await which(t))) missing.push(t);
  return missing.length ? `missing host tools: ${missing.join(", ")} (scripts/setup-host.sh installs them)` : null;
}

/** Collects progress lines (and echoes them when STRATA_TEST_VERBOSE is set). */
export function progressLog(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return {
    lines,
    log: (line) => {
      lines.push(line);
      if (process.env.STRATA_TEST_VERBOSE) console.log(line);
    },
  };
}

/**
 * Skips `t` when this host cannot reach the npm registry (the reason names what failed); true when the
 * test may go on.
 */
export async function npmRegistryOrSkip(t: TestContext): Promise<boolean> {
  const offline = await npmRegistryUnreachable();
  if (offline === null) return true;
  t.skip(offline);
  return false;
}

/**
 * Skips `t` when `url` (a package registry's page) cannot be fetched from here, saying which registry and
 * why; true when the test may go on.
 */
export async function registryOrSkip(t: TestContext, registry: string, url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(15_000) });
    if (r.status < 500) return true;
    t.skip(`${registry} is unavailable: ${url} answers ${r.status}`);
  } catch (err) {
    t.skip(`${registry} is unreachable: ${url}: ${(err as Error).message}`);
  }
  return false;
}

/** Why the npm registry cannot be used from here (npm ping), or null when it can. */
export async function npmRegistryUnreachable(): Promise<string | null> {
  try {
    await exec(["npm", "ping", "--silent"], { timeoutMs: 20_000 });
    return null;
  } catch (err) {
    return `the npm registry is unreachable (npm ping): ${(err as Error).message.split("\n")[0]}`;
  }
}
