/** The sandbox layer's public surface: other layers import it from here, never from its files. */
export { DriverCatalog, probeAll } from "./catalog.js";
export type { DriverReport } from "./catalog.js";
export type { Capabilities, EndedState, Endpoint, ExecIO, ImageRef, Instance, InstanceIO, InstanceSpec, InstanceState, Prepared, SandboxDriver, SnapshotOutcome } from "./driver.js";
export { createSandboxes } from "./drivers.js";
export { BUNDLE_MANIFEST_FILE } from "./isolate/bundle-manifest.js";
export type { BundleManifest } from "./isolate/bundle-manifest.js";
export { pruneDriversShiftedLayers } from "./oci/shifted-layers.js";
export { DEFAULT_SANDBOX } from "./runtime-defaults.js";
