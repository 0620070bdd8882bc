export { PhpBuilder, askedPhpVersion } from "./builder.js";
export { checkVendored } from "./vendor.js";
