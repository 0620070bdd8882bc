/** The Go buildpack: offline `go build` in the golang base image, a run image with only the static binary and CA certificates. */
export { GoBuilder } from "./builder.js";
export { missingModules, requiredModules } from "./missing-modules.js";
