import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { exists, readSourceFile } from "../buildpack/source.js";

/**
 * Packagist cannot be reached from here, so Composer packages come with the app in vendor/. Checks that
 * every package composer.json requires (platform requirements such as php and ext-* aside) is in
 * vendor/, with Composer's autoloader, and names what to run when not. Returns the packages found.
 */
export async function checkVendored(sourceDir: string): Promise<string[]> {
  const text = await readSourceFile(sourceDir, "composer.json");
  if (text === null) return [];
  let composer: { require?: Record<string, string> };
  try {
    composer = JSON.parse(text) as typeof composer;
  } catch (err) {
    throw new StrataError("BUILD_FAILED", `composer.json is not valid JSON: ${(err as Error).message}`);
  }
  const packages = Object.keys(composer.require ?? {}).filter((name) => name.includes("/"));
  if (!packages.length) return [];
  const missing: string[] = [];
  for (const name of packages) if (!(await exists(join(sourceDir, "vendor", name)))) missing.push(name);
  const autoload = await exists(join(sourceDir, "vendor", "autoload.php"));
  if (missing.length || !autoload) {
    const what = missing.length ? `${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not in vendor/` : "vendor/autoload.php is missing";
    throw new StrataError(
      "BUILD_FAILED",
      `composer.json requires ${packages.join(", ")}, but ${what}. Packagist cannot be reached from this machine: ` +
        "run `composer install --no-dev` on a machine with Packagist access and deploy the app with its vendor/ folder " +
        "(and keep vendor/ out of .stratignore/.gcloudignore)",
      { missing, autoload },
    );
  }
  return packages;
}
