import { createHash, randomInt } from "node:crypto";
import type { SplitBy } from "../store/index.js";

/** A compiled traffic split: cumulative upper bounds over [0, 1), in a fixed (sorted) version order. */
export interface Split {
  splitBy: SplitBy;
  versions: readonly string[];
  bounds: readonly number[];
}

export const STICKY_COOKIE = "GOOGAPPUID";

export function compileSplit(splitBy: SplitBy, allocations: Record<string, number>): Split | null {
  const entries = Object.entries(allocations)
    .filter(([, share]) => share > 0)
    .sort(([a], [b]) => a.localeCompare(b));
  const total = entries.reduce((n, [, s]) => n + s, 0);
  if (entries.length === 0 || total <= 0) return null;
  let acc = 0;
  const bounds = entries.map(([, s]) => (acc += s / total));
  bounds[bounds.length - 1] = 1;
  return { splitBy, versions: entries.map(([v]) => v), bounds };
}

/** Picks the version whose range holds `point` ∈ [0, 1). */
export function versionAt(split: Split, point: number): string {
  for (let i = 0; i < split.bounds.length; i++) if (point < split.bounds[i]!) return split.versions[i]!;
  return split.versions[split.versions.length - 1]!;
}

/** The sticky cookie's value (0–999, as App Engine's GOOGAPPUID buckets), or undefined. */
export function stickyBucket(cookieHeader: string | undefined): number | undefined {
  if (!cookieHeader) return undefined;
  const at = cookieHeader.indexOf(STICKY_COOKIE + "=");
  if (at < 0) return undefined;
  const start = at + STICKY_COOKIE.length + 1;
  const end = cookieHeader.indexOf(";", start);
  const n = Number(cookieHeader.slice(start, end < 0 ? undefined : end).trim());
  return Number.isInteger(n) && n >= 0 && n < 1000 ? n : undefined;
}

export function newStickyBucket(): number {
  return randomInt(1000);
}

/** A stable point in [0, 1) for a client address, so one client keeps landing on one version. */
export function ipPoint(address: string): number {
  const h = createHash("sha1").update(address).digest();
  return h.readUInt32BE(0) / 0x1_0000_0000;
}
