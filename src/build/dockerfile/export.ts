import { rm } from "node:fs/promises";
import { adoptStagedImage, type ImageConfig, type ImageRef, linkKnownBlobs, type OciLayout, stagingLayout } from "../../images/index.js";
import type { Buildah, DockerHealthcheck } from "./buildah.js";

/**
 * Copies a built image from buildah's storage into Strata's OCI layout under `ref`. Layers are pushed
 * uncompressed, so a layer's digest is its diff id: the base image's layers are the layout's own blobs
 * (linked into the staging layout, so buildah skips them) and stay stored once.
 */

/** The image config's HEALTHCHECK, as Docker and BuildKit write it into an OCI config (`config.Healthcheck`). */
export type ImageConfigWithHealthcheck = ImageConfig & { config: ImageConfig["config"] & { Healthcheck?: DockerHealthcheck } };

export async function exportImage(buildah: Buildah, imageId: string, layout: OciLayout, ref: string): Promise<ImageRef> {
  const inspected = await buildah.inspectImage(imageId);
  const staging = await stagingLayout(layout);
  try {
    await linkKnownBlobs(layout, staging, inspected.OCIv1?.rootfs?.diff_ids ?? []);
    await buildah.run(["push", "--quiet", "--disable-compression", "--format", "oci", imageId, `oci:${staging}:image`], { timeoutMs: 30 * 60_000 });
    // The OCI config has no HEALTHCHECK field; buildah keeps it only in its Docker-format config.
    const healthcheck = inspected.Docker?.config?.Healthcheck;
    return await adoptStagedImage(layout, staging, ref, (config) =>
      healthcheck ? ({ ...config, config: { ...config.config, Healthcheck: healthcheck } } as ImageConfigWithHealthcheck) : config,
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
