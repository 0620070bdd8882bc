import { z } from "zod";
import type { ImageProcess } from "./image-process.js";

/** What prepare() makes for a version (in memory): the uid-shifted layers, top first, and the image's process. */
export interface OciPrepared {
  readonly layers: readonly string[];
  readonly image: ImageProcess;
}

/**
 * What an OCI instance's handle keeps in the store for recover(), by schema version. Version 1 is the
 * address and port on the bridge; handles written before versions were recorded have no `v` and are
 * version 1. A later shape adds a version here and its conversion, so an upgraded daemon re-adopts what
 * the previous one started.
 */
export const OciHandleData = z.object({
  v: z.literal(1).default(1),
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535),
});
export type OciHandleData = z.infer<typeof OciHandleData>;

/** The handle data of an instance started now (the current version). */
export function ociHandleData(address: string, port: number): OciHandleData {
  return { v: 1, address, port };
}
