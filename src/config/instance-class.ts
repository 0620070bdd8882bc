/**
 * App Engine instance classes and the limits Strata gives an instance of each. F classes are for
 * automatic scaling, B classes for basic and manual scaling, as on App Engine.
 */
import { StrataError } from "../errors.js";

export const INSTANCE_CLASSES = ["F1", "F2", "F4", "F4_1G", "B1", "B2", "B4", "B4_1G", "B8"] as const;
export type InstanceClass = (typeof INSTANCE_CLASSES)[number];

export type ScalingKind = "automatic" | "basic" | "manual";

export interface ResourceLimits {
  readonly memoryMb: number;
  /**
   * CPU in millicores, from App Engine's clock rates (600 MHz = 600 millicores). A class can ask for
   * more than the host has (B8 on a 2-core host); whoever applies the limit caps it at the host's cores.
   */
  readonly cpuMillis: number;
  readonly pids: number;
}

/**
 * App Engine publishes no process limit to copy. 256 stops a fork bomb from exhausting the host's pid
 * space while leaving room for a runtime's workers and threads (a cgroup's pids count threads too; a
 * JVM with Tomcat's default pool of 200 threads fits).
 */
const PIDS_PER_INSTANCE = 256;

const MEMORY_AND_CPU: Readonly<Record<InstanceClass, { memoryMb: number; cpuMillis: number }>> = {
  F1: { memoryMb: 384, cpuMillis: 600 },
  F2: { memoryMb: 768, cpuMillis: 1200 },
  F4: { memoryMb: 1536, cpuMillis: 2400 },
  F4_1G: { memoryMb: 3072, cpuMillis: 2400 },
  B1: { memoryMb: 384, cpuMillis: 600 },
  B2: { memoryMb: 768, cpuMillis: 1200 },
  B4: { memoryMb: 1536, cpuMillis: 2400 },
  B4_1G: { memoryMb: 3072, cpuMillis: 2400 },
  B8: { memoryMb: 3072, cpuMillis: 4800 },
};

function isInstanceClass(cls: string): cls is InstanceClass {
  return (INSTANCE_CLASSES as readonly string[]).includes(cls);
}

/** App Engine's default: F1 for automatic scaling, B2 for basic and manual scaling. */
export function defaultInstanceClass(kind: ScalingKind): InstanceClass {
  return kind === "automatic" ? "F1" : "B2";
}

/** The scaling kinds a class may be used with: F classes automatic, B classes basic and manual. */
export function classFitsScaling(cls: InstanceClass, kind: ScalingKind): boolean {
  return cls.startsWith("F") === (kind === "automatic");
}

/** Limits for an instance class; no class means F1, the default of the default (automatic) scaling. */
export function limitsForClass(cls?: string): ResourceLimits {
  const name = cls ?? defaultInstanceClass("automatic");
  if (!isInstanceClass(name)) {
    throw new StrataError(
      "INVALID_CONFIG",
      `unknown instance_class "${name}"; known classes are ${INSTANCE_CLASSES.join(", ")}`,
      { path: "instance_class", value: name, allowed: [...INSTANCE_CLASSES] },
    );
  }
  return Object.freeze({ ...MEMORY_AND_CPU[name], pids: PIDS_PER_INSTANCE });
}
