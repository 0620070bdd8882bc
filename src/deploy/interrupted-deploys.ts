import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { StrataHome } from "../home.js";
import type { Store } from "../store/index.js";
import { ignoreMissing } from "../system/fs.js";

/** What stays in STRATA_HOME/builds across daemons: the Go module cache, and buildpack work (sweepBuildpackWork). */
const KEPT_IN_BUILDS = new Set(["go-cache", "buildpack"]);

/**
 * At start-up, before the API takes deploys: a daemon that was killed mid-deploy left versions marked
 * building that no build will ever finish, its uploads, and its deploys' work dirs. The versions become
 * failed with a message that says to deploy again (the failure is what App Engine reports when a build
 * is lost); the files go. Returns the versions failed.
 */
export async function failInterruptedDeploys(home: StrataHome, store: Store): Promise<string[]> {
  const failed: string[] = [];
  for (const v of store.listVersions()) {
    if (v.status !== "building") continue;
    const message = "the daemon stopped while this version was building; deploy it again";
    store.putVersion({ ...v, status: "failed", error: message });
    store.addEvent({ type: "version.failed", app: v.app, version: v.version, message });
    failed.push(`${v.app}/${v.version}`);
  }
  await rm(home.uploads, { recursive: true, force: true });
  for (const name of await readdir(home.builds).catch(ignoreMissing([] as string[]))) {
    if (!KEPT_IN_BUILDS.has(name)) await rm(join(home.builds, name), { recursive: true, force: true });
  }
  return failed;
}
