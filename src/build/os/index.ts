export { OsBuilder, type OsSpec } from "./builder.js";
