import { z } from "zod";

/** What a vm instance's handle keeps in the store for recover(), by schema version. */
export const VmHandleData = z.object({
  v: z.literal(1),
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  pid: z.number().int().positive(),
  detail: z.string(),
});
export type VmHandleData = z.infer<typeof VmHandleData>;
