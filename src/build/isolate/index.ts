/** The isolate builder: Workers-style JS/TS (+ .wasm imports) and WASI CGI programs → "isolate-bundle". */
export { detect, type IsolateApp } from "./detect.js";
export { build, type IsolateBuildOptions, type IsolateBundle } from "./build.js";
export { IsolateBuilder, isolateBundlesDir } from "./isolate-builder.js";
