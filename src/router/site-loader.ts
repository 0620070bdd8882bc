import type { BlobStore } from "../artifacts/index.js";
import { readStoredSpec } from "../config/index.js";
import type { VersionRecord } from "../store/index.js";
import type { SiteLoader, StaticResponder } from "./route-table.js";
import { ByteCache, StaticSite } from "./static/index.js";

/**
 * Makes (and remembers) the static responder of each version: loading a tree manifest once per deploy,
 * not once per route-table rebuild. Apps with code get one too when their app.yaml has static handlers.
 */
export function staticSiteLoader(blobs: BlobStore): SiteLoader {
  const cache = new ByteCache();
  const sites = new Map<string, Promise<StaticResponder>>();
  return async (v: VersionRecord) => {
    const isStatic = v.artifact?.kind === "static-tree";
    const tree = isStatic ? v.artifact!.digest : v.staticTree;
    if (!tree) return undefined;
    const spec = readStoredSpec(v.spec, `${v.app}/${v.version}`);
    const key = `${tree}:${isStatic}:${JSON.stringify(spec?.handlers ?? null)}:${spec?.default_expiration ?? ""}`;
    let site = sites.get(key);
    if (!site) {
      site = StaticSite.load(tree, blobs, {
        ...(spec?.handlers && { handlers: spec.handlers }),
        ...(spec?.default_expiration && { defaultExpiration: spec.default_expiration }),
        // An app with code answers whatever its static handlers do not.
        unmatched: isStatic ? "not-found" : "forward",
        cache,
      }).then((s) => ({ serve: (req, res) => s.handle(req, res) === "served" }));
      sites.set(key, site);
      site.catch(() => sites.delete(key)); // a failed load is retried at the next rebuild; the error reaches the caller
    }
    return site;
  };
}
