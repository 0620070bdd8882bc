import { sharedImageStore } from "../unit/images/shared-store.js";

/**
 * The base images the test suite builds on. `scripts/test.sh` builds them before any test runs (test/
 * prepare-images.ts), so that no test's clock includes a bootstrap and no test depends on what an earlier
 * test file left in the shared store; a test that needs one also ensures it in its own set-up.
 */
export const SUITE_BASE_IMAGES = [
  "debian",
  "python",
  "python313",
  "python314",
  "nodejs",
  "nodejs20",
  "ruby",
  "golang",
  "golang124",
  "elixir114",
  "elixir114-run",
  "elixir118",
  "elixir118-run",
  "elixir120",
  "elixir120-run",
  "php",
  "php84",
  "nodejs22",
  "ruby33",
  "java17",
  "java17-jdk",
  "rust185",
  "native",
] as const;

/** Builds (or finds) `names` in the shared test image store, `concurrency` at a time, streaming progress. */
export async function ensureBaseImages(names: readonly string[], log: (line: string) => void = () => {}, concurrency = 1): Promise<void> {
  const { catalog } = sharedImageStore();
  const queue = [...names];
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const started = Date.now();
      const image = await catalog.ensure(name, (line) => log(`[${name}] ${line}`));
      log(`[${name}] ready: ${image.ref} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
