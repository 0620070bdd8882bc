import { z } from "zod";

/** The virtio-serial port names the guest init looks for (init/protocol.go). */
export const LOG_PORT = "strata.log";
export const CTL_PORT = "strata.ctl";

/** What the guest writes on its log port, one JSON object a line. */
export const GuestEvent = z.discriminatedUnion("t", [
  z.object({ t: z.literal("log"), s: z.enum(["stdout", "stderr"]), l: z.string() }),
  z.object({ t: z.literal("started") }),
  z.object({
    t: z.literal("exit"),
    code: z.number().int(),
    reason: z.enum(["exited", "oom-killed", "killed", "pids-limit"]),
    error: z.string().optional(),
  }),
]);
export type GuestEvent = z.infer<typeof GuestEvent>;

/** Parses one line of the log port; a line that is not an event (a torn write) is null. */
export function parseGuestEvent(line: string): GuestEvent | null {
  try {
    const parsed = GuestEvent.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : null;
  } catch {
    return null; // not JSON: a line cut short by a VM killed mid-write
  }
}

/** Host -> guest, on the control port. */
export type GuestControl =
  | { readonly t: "signal"; readonly sig: number }
  | {
      readonly t: "restored";
      readonly unixNano: number;
      readonly seed: string;
      readonly hostname: string;
      readonly net: Readonly<Record<string, string | number>>;
    };

export function encodeControl(msg: GuestControl): string {
  return `${JSON.stringify(msg)}\n`;
}
