import { createHash } from "node:crypto";

/**
 * The one table of base images Strata bootstraps from Debian packages. A recipe's hash (suite, packages,
 * the host's apt sources and RECIPE_VERSION) is the cache key: change any of them and the image is rebuilt
 * once, then shared by every app.
 */

/** Bump when the bootstrap procedure changes in a way that changes the produced rootfs. */
export const RECIPE_VERSION = 2;

export const DEBIAN_SUITE = "bookworm";

export interface BaseImageRecipe {
  /** Canonical name: `debian`, `python`, `nodejs`. */
  readonly name: string;
  readonly suite: string;
  /** Packages installed on top of mmdebstrap's minbase variant. */
  readonly packages: readonly string[];
  /** Other names the catalog resolves to this recipe (the Dockerfile builder's `FROM` names). */
  readonly aliases: readonly string[];
  /** What the image carries, in words (Debian 12's versions), shown by `strata images`. */
  readonly describes: string;
  /** Runtime defaults baked into the image config. */
  readonly env: readonly string[];
}

const BASE_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export const RECIPES: readonly BaseImageRecipe[] = [
  {
    name: "debian",
    suite: DEBIAN_SUITE,
    packages: [],
    aliases: ["debian:bookworm", "debian:12", "debian:bookworm-slim", "debian:12-slim"],
    describes: "Debian 12 (bookworm) minbase",
    env: [BASE_PATH, "LANG=C.UTF-8"],
  },
  {
    name: "python",
    suite: DEBIAN_SUITE,
    // python3-gunicorn (the module) rather than `gunicorn` (its /usr/bin script): the buildpack launches
    // gunicorn through the app's venv python so that packages in the venv are importable.
    packages: ["python3", "python3-pip", "python3-venv", "python3-gunicorn", "ca-certificates"],
    aliases: ["python:3", "python:3.11", "python:3.11-bookworm", "python:3.11-slim", "python:3.11-slim-bookworm"],
    describes: "Debian 12 python3 3.11.2, pip 23.0.1, venv, gunicorn 20.1.0",
    env: [BASE_PATH, "LANG=C.UTF-8", "PYTHONUNBUFFERED=1", "PIP_DISABLE_PIP_VERSION_CHECK=1"],
  },
  {
    name: "nodejs",
    suite: DEBIAN_SUITE,
    // Debian 12 ships Node 18 only; the host's Node 20 comes from a third-party apt source that is
    // not enabled (nor reachable) here. With such a source in the host's apt config it would be used.
    packages: ["nodejs", "npm", "ca-certificates"],
    aliases: ["node", "node:18", "node:18-bookworm", "node:18-slim", "node:18-bookworm-slim"],
    describes: "Debian 12 nodejs 18.20.4, npm 9.2.0",
    env: [BASE_PATH, "LANG=C.UTF-8", "NODE_ENV=production"],
  },
  {
    name: "ruby",
    suite: DEBIAN_SUITE,
    // Rack with both servers Debian packages (webrick, puma), so `rackup` and `puma` work without a gem
    // registry; bundler for apps that vendor their gems.
    packages: ["ruby", "ruby-rack", "ruby-webrick", "puma", "bundler", "ca-certificates"],
    aliases: ["ruby:3", "ruby:3.1", "ruby:3.1-bookworm", "ruby:3.1-slim", "ruby:3.1-slim-bookworm"],
    describes: "Debian 12 ruby 3.1.2, rack 2.2, webrick 1.8, puma 5.6, bundler",
    env: [BASE_PATH, "LANG=C.UTF-8"],
  },
  {
    name: "golang",
    suite: DEBIAN_SUITE,
    // gcc and libc6-dev as in Docker's golang image: Go 1.19 needs a C compiler for cgo, which it enables by
    // default; with one, `go build` links against the precompiled standard library instead of rebuilding it.
    packages: ["golang-go", "gcc", "libc6-dev", "ca-certificates"],
    aliases: ["golang:1", "golang:1.19", "golang:1.19-bookworm", "go:1.19"],
    describes: "Debian 12 golang-go 1.19, gcc 12",
    env: ["PATH=/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "GOPATH=/go"],
  },
  {
    name: "php",
    suite: DEBIAN_SUITE,
    packages: ["php8.2-cli", "ca-certificates"],
    aliases: ["php:8", "php:8.2", "php:8.2-cli", "php:8.2-cli-bookworm", "php:8.2-bookworm"],
    describes: "Debian 12 php8.2-cli",
    env: [BASE_PATH, "LANG=C.UTF-8"],
  },
];

export function findRecipe(name: string): BaseImageRecipe | undefined {
  return RECIPES.find((r) => r.name === name || r.aliases.includes(name));
}

/** The cache key of a recipe: everything that decides the bytes of its rootfs. */
export function recipeHash(recipe: BaseImageRecipe, aptSources: string): string {
  return createHash("sha256")
    .update(JSON.stringify({ v: RECIPE_VERSION, suite: recipe.suite, packages: [...recipe.packages].sort(), env: recipe.env, aptSources }))
    .digest("hex");
}

/** Names a user may expect that no recipe can honestly provide on this host, with the reason. */
const UNAVAILABLE: ReadonlyArray<{ pattern: RegExp; reason: string }> = [
  {
    pattern: /^node(js)?:(19|2\d)(\b|[.-])/,
    reason:
      "Debian 12's nodejs is 18.20.4 and the host's apt sources offer no newer Node; use node:18, or enable an apt source with Node 20 on the host (the base image is built from the host's apt sources)",
  },
  {
    pattern: /^python:3\.(?!11\b)\d+/,
    reason: "Debian 12's python3 is 3.11; use python:3.11",
  },
];

export function unavailableReason(name: string): string | undefined {
  return UNAVAILABLE.find((u) => u.pattern.test(name))?.reason;
}
