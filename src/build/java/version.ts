/**
 * The Java version an app asks for: app.yaml `runtime: javaNN`, else the release its pom.xml compiles for
 * (`maven.compiler.release`, `maven.compiler.target`, or Spring Boot's `java.version` property); none for
 * plain `java` or a pom that says nothing (then the oldest JRE Strata has runs it).
 */
export function askedJavaVersion(runtime: string | undefined, pom: string | null): string | undefined {
  const fromRuntime = /^java(\d+)$/.exec(runtime ?? "");
  if (fromRuntime) return fromRuntime[1];
  if (runtime !== undefined || pom === null) return undefined;
  for (const property of ["maven.compiler.release", "maven.compiler.target", "java.version"]) {
    const value = new RegExp(`<${property.replace(/\./g, "\\.")}>\\s*(?:1\\.)?(\\d+)\\s*</`).exec(pom)?.[1];
    if (value !== undefined) return value;
  }
  return undefined;
}
