/**
 * Environment defaults for a guest whose CPU QEMU emulates (TCG: no usable KVM on the host). They sit
 * below the image's Env and the app's (processFor's `defaults`), so either may set the same variable.
 *
 * A JIT compiles code that TCG must then translate again, and HotSpot's tiered compilation (profiled C1
 * code, then C2) compiles most and patches most: under TCG the JVM spends its start compiling. Stopping at
 * C1 is Cloud Run's own advice for Java start-up ("Optimize Java applications for Cloud Run": reduce tiered
 * compilation). Measured with the Spring Boot example in a kata guest under TCG (one vCPU, one host core), in
 * one run: start to first 200 in 60 s with these options, 134 s with the JVM's defaults, 167 s interpreted
 * only (-Xint). SerialGC is what the JVM picks on one vCPU anyway; it is named so the measured set is the set.
 */
const EMULATED_CPU_ENV: Readonly<Record<string, string>> = Object.freeze({
  JAVA_TOOL_OPTIONS: "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
});

/** The defaults for a guest on this accelerator: none when the CPU is not emulated. */
export function guestEnvDefaults(emulated: boolean): Readonly<Record<string, string>> {
  return emulated ? EMULATED_CPU_ENV : {};
}
