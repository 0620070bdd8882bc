/** The V8 isolate sandbox driver and the isolate-bundle format it runs. */
export { IsolateDriver, type IsolateDriverOptions, type IsolatePrepared } from "./driver.js";
export { BUNDLE_MANIFEST_FILE, BundleManifestSchema, readBundleManifest, type BundleManifest } from "./bundle-manifest.js";
