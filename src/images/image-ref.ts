/** What kind of artifact a sandbox driver runs (a driver lists the kinds it can in its capabilities). */
export type ImageKind = "oci" | "isolate-bundle" | "disk";

/** A built artifact a driver can prepare. `path` is an OCI layout dir, a bundle dir, or a disk image. */
export interface ImageRef {
  readonly kind: ImageKind;
  readonly digest: string; // sha256:...
  readonly path: string;
  /** For OCI layouts: the manifest's ref name inside the layout. */
  readonly ref?: string;
}
