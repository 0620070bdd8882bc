/** The static builder: an extracted upload becomes a StaticTree of blobs. */
export { buildStaticTree, NOT_SERVED, type StaticTreeResult } from "./build-tree.js";
export { isCompressible, precompress, type Variants } from "./precompress.js";
export { StaticBuilder } from "./static-builder.js";
