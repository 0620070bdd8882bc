import type { IncomingMessage, ServerResponse } from "node:http";
import { compileSplit, type Split } from "./traffic.js";
import type { Store, VersionRecord } from "../store/index.js";
import { functionOf } from "../config/index.js";

/** Serves the static part of a version; answers false when the request belongs to the app's instances. */
export interface StaticResponder {
  serve(req: IncomingMessage, res: ServerResponse): boolean;
}

/** How one ready version answers: entirely from static files, or from instances (static handlers first). */
export type VersionTarget =
  | { kind: "static"; version: string; site: StaticResponder }
  | { kind: "instances"; version: string; site: StaticResponder | undefined }
  /** A hosted function's version: reached at its function URL (NAME.fn.DOMAIN), not as a web app. */
  | { kind: "function"; version: string; site: undefined };

export interface AppRoute {
  split: Split | null;
  versions: ReadonlyMap<string, VersionTarget>;
}

/**
 * An immutable snapshot of what serves where. The router swaps the whole table in one assignment, so a
 * request sees either the old deploy or the new one, never half of each.
 */
export interface RouteTable {
  readonly apps: ReadonlyMap<string, AppRoute>;
}

export const EMPTY_TABLE: RouteTable = { apps: new Map() };

/** Makes a version's static responder (cached by the caller); undefined for a version with no static part. */
export type SiteLoader = (v: VersionRecord) => Promise<StaticResponder | undefined>;

export async function buildRouteTable(store: Store, loadSite: SiteLoader): Promise<RouteTable> {
  const apps = new Map<string, AppRoute>();
  for (const app of store.listApps()) {
    const versions = new Map<string, VersionTarget>();
    for (const v of store.listVersions(app.name)) {
      if (v.status !== "ready" || !v.artifact) continue;
      if (functionOf(v.spec)) {
        versions.set(v.version, { kind: "function", version: v.version, site: undefined });
        continue;
      }
      const site = await loadSite(v);
      if (v.artifact.kind === "static-tree") {
        if (site) versions.set(v.version, { kind: "static", version: v.version, site });
      } else {
        versions.set(v.version, { kind: "instances", version: v.version, site });
      }
    }
    const traffic = store.getTraffic(app.name);
    const live = Object.fromEntries(Object.entries(traffic?.allocations ?? {}).filter(([ver]) => versions.has(ver)));
    apps.set(app.name, { split: compileSplit(traffic?.splitBy ?? "random", live), versions });
  }
  return { apps };
}
