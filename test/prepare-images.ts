/**
 * Builds every base image the test suite uses into the shared test image store, before any test runs and
 * with a time budget of its own (a fresh machine bootstraps them from Debian packages: minutes, not
 * seconds). Run by scripts/test.sh; prints what it does as it goes.
 */
import { imageToolsMissing, SHARED_IMAGES_ROOT } from "./unit/images/shared-store.js";
import { ensureBaseImages, SUITE_BASE_IMAGES } from "./support/base-images.js";

const BUDGET_MS = 40 * 60_000;
/** apt/dpkg chatter: one line per package; the rest (mmdebstrap's steps, Strata's own lines) is shown. */
const CHATTER = /^(Get:\d|Selecting previously|Preparing to unpack|Unpacking |Setting up |\(Reading database|Processing triggers|dpkg-deb: building|debconf: )/;

const missing = await imageToolsMissing();
if (missing) {
  console.log(`==> not building base images up front: ${missing} (the tests that need them skip)`);
} else {
  console.log(`==> base images for the tests, in ${SHARED_IMAGES_ROOT}: ${SUITE_BASE_IMAGES.join(", ")}`);
  const started = Date.now();
  const budget = setTimeout(() => {
    console.error(`base images were not ready within ${BUDGET_MS / 60_000} minutes; see the lines above for the step that hangs`);
    process.exit(1);
  }, BUDGET_MS);
  budget.unref();
  // Two at a time: a bootstrap waits on the mirror as much as on the CPU.
  await ensureBaseImages(SUITE_BASE_IMAGES, (line) => CHATTER.test(line.replace(/^\[[^\]]+\] /, "")) || console.log(`    ${line}`), 2);
  clearTimeout(budget);
  console.log(`==> base images ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
