import { basename, resolve } from "node:path";
import { AppName } from "../api/index.js";
import { StrataError } from "../errors.js";

/** What may name the app a folder deploys as, strongest first (see appNameFor). */
export interface AppNameSources {
  /** `strata deploy --app`. */
  app?: string;
  /** app.yaml `service` (already checked by its schema). */
  service?: string;
  /** The wrangler file's `name`, which names the Worker under `wrangler deploy`. */
  wrangler?: { file: string; name?: string };
}

/**
 * The app name a folder deploys as: --app, else app.yaml `service`, else the wrangler file's `name`, else
 * the folder's name made DNS-safe. A wrangler name that is not an app name is refused with how to fix it.
 */
export function appNameFor(dir: string, sources: AppNameSources): string {
  if (sources.app !== undefined) return sources.app;
  if (sources.service !== undefined) return sources.service;
  const wrangler = sources.wrangler;
  if (wrangler?.name !== undefined) {
    const checked = AppName.safeParse(wrangler.name);
    if (!checked.success) {
      throw new StrataError(
        "INVALID_CONFIG",
        `${wrangler.file}: name "${wrangler.name}" cannot name a Strata app (${checked.error.issues[0]?.message}); change it, set \`service:\` in app.yaml, or pass --app NAME`,
        { file: wrangler.file },
      );
    }
    return wrangler.name;
  }
  const name = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
  if (!name) throw new StrataError("INVALID_ARGUMENT", `cannot derive an app name from "${dir}": set \`service:\` in app.yaml or pass --app`);
  return name;
}
