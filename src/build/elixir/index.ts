/** The Elixir buildpack: `mix release` offline in the elixir base image, the release on a small run image. */
export { ElixirBuilder, askedElixirVersion } from "./builder.js";
export { missingDependencies, vendoringAdvice, type MissingDependency } from "./missing-deps.js";
