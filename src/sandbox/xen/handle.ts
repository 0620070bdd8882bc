import { z } from "zod";

/** What a xen instance's handle keeps in the store for recover(), by schema version. */
export const XenHandleData = z.object({
  v: z.literal(1),
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  /** The domain's name: recover() re-adopts the domain that still has it. */
  domain: z.string().min(1),
});
export type XenHandleData = z.infer<typeof XenHandleData>;
