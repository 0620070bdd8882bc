import { StrataError } from "../errors.js";
import { RECIPES, type BaseImageRecipe, type ImageLanguage, type LanguageVersion } from "./recipes.js";

/**
 * Which base image runs a language version. App Engine runs each runtime on its exact minor version; the
 * images carry what the Debian suites carry, so a version no suite has runs on the nearest newer one, and
 * the choice says so (the build log, `strata versions` and `strata images` show it): never silently.
 */

export type LanguageRecipe = BaseImageRecipe & { runs: LanguageVersion };

export interface LanguageImageChoice {
  readonly recipe: LanguageRecipe;
  /** The version asked for ("3.12"); absent when the app named none. */
  readonly asked?: string;
  /** True when the image carries exactly the asked minor (or none was asked). */
  readonly exact: boolean;
}

const LANGUAGE_NAME: Readonly<Record<ImageLanguage, string>> = { python: "Python", go: "Go", ruby: "Ruby", php: "PHP", elixir: "Elixir", java: "Java", rust: "Rust" };

/** App Engine's runtime id for a language version: python + 3.13 → python313. */
export function runtimeId(language: ImageLanguage, version: string): string {
  return language + version.replace(".", "");
}

/** The images carrying `language`, oldest version first. The first is the default for apps that name no version. */
export function languageRecipes(language: ImageLanguage): LanguageRecipe[] {
  return RECIPES.filter((r): r is LanguageRecipe => r.runs?.language === language).sort((a, b) => compareVersions(a.runs.version, b.runs.version));
}

/**
 * The image for `language` at version `asked` ("3.12"): the exact minor where an image has it, else the
 * nearest newer; a version newer than every image is a user error naming the runtimes there are.
 */
export function chooseLanguageImage(language: ImageLanguage, asked: string | undefined): LanguageImageChoice {
  const recipes = languageRecipes(language);
  if (!recipes.length) throw new StrataError("INTERNAL", `no base image carries ${LANGUAGE_NAME[language]}`);
  if (asked === undefined) return { recipe: recipes[0]!, exact: true };
  const recipe = recipes.find((r) => compareVersions(r.runs.version, asked) >= 0);
  if (!recipe) {
    const have = recipes.map((r) => `${runtimeId(language, r.runs.version)} (${LANGUAGE_NAME[language]} ${r.runs.version})`).join(", ");
    throw new StrataError(
      "UNSUPPORTED_RUNTIME",
      `runtime ${runtimeId(language, asked)}: no Debian suite Strata builds from carries ${LANGUAGE_NAME[language]} ${asked} or newer; the ${LANGUAGE_NAME[language]} runtimes it runs are ${have}`,
      { asked, available: recipes.map((r) => runtimeId(language, r.runs.version)) },
    );
  }
  return { recipe, asked, exact: recipe.runs.version === asked };
}

/** What a choice runs, for the build log and the version record: "Python 3.13.5", plus why when not exact. */
export function describeChoice(choice: LanguageImageChoice, exactVersion: string | undefined): string {
  const { recipe, asked, exact } = choice;
  const name = LANGUAGE_NAME[recipe.runs.language];
  const runs = `${name} ${exactVersion ?? recipe.runs.version}`;
  if (exact) return runs;
  return `${runs} (nearest newer: no Debian suite carries ${name} ${asked})`;
}

/**
 * The language's exact version from a dpkg version ("3.13.5-2+deb13u5" → "3.13.5", "2:1.24~2" → "1.24",
 * and without a repack suffix: "1.14.0.dfsg-2" → "1.14.0").
 */
export function upstreamVersion(dpkgVersion: string): string {
  return dpkgVersion.replace(/^\d+:/, "").replace(/[-~+].*$/, "").replace(/\.(dfsg|ds)\d*$/, "");
}

/** Dotted numeric versions compared part by part: "3.9" < "3.13". */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
