import type { StrataHome } from "../../home.js";
import type { DriverName, ImageRef, Prepared } from "../driver.js";
import { PreparedCache, requireOciImage } from "../prepared-cache.js";
import { imageProcess, type ImageProcess } from "../oci/image-process.js";
import type { GuestAssets } from "./assets.js";
import { rootDisk } from "./root-disk.js";

/** What a VM-class driver prepares for a version: the image as a root disk, its process, the kernel and initramfs. */
export interface GuestPrepared {
  readonly rootDisk: string;
  readonly image: ImageProcess;
  readonly assets: GuestAssets;
}

/** What every VM-class guest boots: the kernel, the initramfs with Strata's init, and its two disks. */
export interface GuestBoot {
  readonly kernel: string;
  readonly initramfs: string;
  readonly cmdline: string;
  /** The image, read-only: the guest's first disk. */
  readonly rootDisk: string;
  /** The run file (or kata's container request): the second disk. */
  readonly runDisk: string;
}

/**
 * prepare() and release() of a VM-class driver: an OCI image made a read-only root disk (shared by every
 * version built from that image), its process read from the config, and the guest assets the driver boots.
 * Each is made once per version; a failed one is retried by the next prepare().
 */
export class GuestImages {
  private readonly prepared = new PreparedCache<GuestPrepared>();

  constructor(
    private readonly driver: DriverName,
    private readonly home: StrataHome,
    private readonly assets: () => Promise<GuestAssets>,
    private readonly onProgress?: (line: string) => void,
  ) {}

  async prepare(image: ImageRef): Promise<Prepared<GuestPrepared>> {
    requireOciImage(this.driver, image);
    const key = `${this.driver}:${image.path}:${image.ref ?? image.digest}:${image.digest}`;
    return this.prepared.get(key, async () => {
      const disk = await rootDisk(this.home, image.path, image.ref ?? image.digest, this.onProgress);
      const assets = await this.assets();
      const proc = await imageProcess(disk.image.config.config, disk.layersTopFirst);
      return { driver: this.driver, key, data: { rootDisk: disk.path, image: proc, assets } };
    });
  }

  /** Forgets the version (its root disk stays: other versions of the image share it). */
  release(prepared: Prepared<GuestPrepared>): void {
    this.prepared.forget(prepared.key);
  }
}
