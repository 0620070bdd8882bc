import { StrataError } from "../errors.js";
import type { DriverName, ImageRef, Prepared } from "./driver.js";

/**
 * A driver's prepare() made once per key: later calls share the first one's promise, a failed one is
 * forgotten so the next prepare() tries again, and one that `stillValid` rejects (the image GC removed what
 * it points at) is made anew. release() forgets the key; what it points at may be shared and stays.
 */
export class PreparedCache<D> {
  private readonly entries = new Map<string, Promise<Prepared<D>>>();

  constructor(private readonly stillValid?: (prepared: Prepared<D>) => Promise<boolean>) {}

  async get(key: string, make: () => Promise<Prepared<D>>): Promise<Prepared<D>> {
    let entry = this.entries.get(key);
    if (entry && this.stillValid && !(await this.valid(entry))) {
      this.entries.delete(key);
      entry = undefined;
    }
    if (!entry) {
      entry = make();
      this.entries.set(key, entry);
      const made = entry;
      // A failed preparation is retried by the next prepare(); its caller gets the error.
      made.catch(() => { if (this.entries.get(key) === made) this.entries.delete(key); });
    }
    return entry;
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  private async valid(entry: Promise<Prepared<D>>): Promise<boolean> {
    const prepared = await entry.catch(() => null);
    return prepared === null || (await this.stillValid!(prepared)); // a failed one is dropped by its own catch
  }
}

/** The drivers that run OCI images refuse other kinds with the same words. */
export function requireOciImage(driver: DriverName, image: ImageRef): void {
  if (image.kind !== "oci") throw new StrataError("INVALID_ARGUMENT", `the ${driver} driver runs OCI images, not ${image.kind}`);
}
