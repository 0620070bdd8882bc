import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../errors.js";

/** Polls `check` until it returns a value, or throws `timeoutMessage` after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number, timeoutMessage: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new StrataError("INTERNAL", timeoutMessage);
    await sleep(100);
  }
}
