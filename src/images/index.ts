/** The image store: the OCI layout, the base-image catalog, layer unpacking for overlayfs, and garbage collection. */
export type { ImageKind, ImageRef } from "./image-ref.js";
export { OciLayout, MEDIA_TYPES, REF_ANNOTATION, sha256File, assertRefName } from "./layout.js";
export type { Descriptor, ImageConfig, ImageManifest, ImageRuntimeConfig, ImageSummary, Layer, ResolvedImage } from "./layout.js";
export { ImageCatalog, imagePaths } from "./catalog.js";
export { RECIPES, RECIPE_VERSION, findRecipe, nodeRecipes, recipeHash } from "./recipes.js";
export type { BaseImageRecipe, DebianRecipe, NodeDistributionRecipe, NpmPackagePin } from "./recipes.js";
export { unpackLayers, unpackLayerList } from "./unpack.js";
export { ociToOverlayWhiteouts, overlayToOciWhiteouts } from "./whiteouts.js";
export { lineSplitter } from "./progress.js";
export { importImage, pullImage, importedNames, importedRef, canonicalImageName, IMPORTED_PREFIX } from "./import.js";
export type { ImportedImage, ImportFormat } from "./import.js";
export { stagingLayout, linkKnownBlobs } from "./adopt.js";
export { LayoutLock } from "./layout-lock.js";
export { mountedLayerDigests, layerDigestsOf } from "./mounted-layers.js";
export { pruneLayout } from "./prune.js";
export type { LayoutPruneOptions, LayoutPruneResult, Removed } from "./prune.js";
