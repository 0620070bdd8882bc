/** Content-addressed storage and the archive formats that flow through it. */
export { BlobStore, isDigest, type BlobRef } from "./blob-store.js";
export { receiveUpload, type ReceivedUpload } from "./upload.js";
export { extractArchive, createArchive, type ExtractLimits } from "./archive.js";
export { parseIgnore, loadIgnore, IGNORE_FILES, DEFAULT_IGNORES, type IgnoreMatcher } from "./ignore.js";
export { etagFor, type StaticFile, type StaticTree } from "./static-tree.js";
export { pruneArtifacts } from "./prune.js";
export type { ArtifactPruneResult, ArtifactRoots } from "./prune.js";
