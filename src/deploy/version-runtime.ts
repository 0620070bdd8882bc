import type { VersionRecord } from "../store/index.js";

/**
 * What the deploy path needs from the scheduler for versions that run in sandboxes: bring a version to
 * serving strength before traffic moves to it, and let a version that lost its traffic drain.
 */
export interface VersionRuntime {
  /** Prepares the version and starts its minimum instances; resolves once they are ready. */
  warm(v: VersionRecord, log: (line: string) => void): Promise<void>;
  /** Stops a version's instances after in-flight requests finish (no-op when it has none). */
  drain(app: string, version: string): Promise<void>;
  /** Stops everything of an app (it is being deleted). */
  removeApp(app: string): Promise<void>;
}
