import { z } from "zod";
import { OciHandleData } from "../oci/handle.js";

/**
 * What a gVisor instance's handle keeps for recover(): the OCI driver's data (same versions), plus how the
 * sandbox runs ("systrap, host"), so `strata instances` still says it after a daemon restart. Handles
 * written before the detail was recorded have none.
 */
export const GvisorHandleData = OciHandleData.extend({ detail: z.string().min(1).optional() });
export type GvisorHandleData = z.infer<typeof GvisorHandleData>;
