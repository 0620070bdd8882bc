/**
 * Reads Mix's complaints about dependencies a build could not get (builds have no Hex client and no
 * network), so the build error names them and says how to vendor them.
 */
export interface MissingDependency {
  /** The dependency's app name, without the colon: "jason". */
  readonly name: string;
  /** Where Mix looked: "hex" for a hex-form dependency, else Mix's own description ("vendor/greeter"). */
  readonly source: string;
  /** Mix's reason, when it gave one ("the dependency is not available"). */
  readonly reason?: string;
}

/** The dependencies behind a failed `mix release`, in order of appearance (none: the failure is something else). */
export function missingDependencies(mixOutput: string): MissingDependency[] {
  const found = new Map<string, MissingDependency>();
  // No SCM claimed a hex-form dependency: neither Hex (absent) nor Strata's deps/ SCM (no deps/<name>).
  for (const m of mixOutput.matchAll(/Could not find an SCM for dependency :(\w+)/g)) {
    found.set(m[1]!, { name: m[1]!, source: "hex" });
  }
  // deps.loadpaths' list: "* greeter (vendor/greeter)" then indented reasons.
  const unchecked = /Unchecked dependencies for environment \w+:\n((?:\*.*\n?|[ \t]+.*\n?)+)/.exec(mixOutput)?.[1] ?? "";
  for (const m of unchecked.matchAll(/^\* (\w+)(?: \(([^)\n]*)\))?[^\n]*\n((?:[ \t]+.*\n?)*)/gm)) {
    const reason = m[3]!.trim().split("\n").map((l) => l.trim()).join(" ");
    found.set(m[1]!, { name: m[1]!, source: m[2] ?? "", ...(reason && { reason }) });
  }
  return [...found.values()];
}

/** What the user should do about `deps`, for the build error. */
export function vendoringAdvice(deps: readonly MissingDependency[]): string {
  const lines = deps.map((d) => {
    if (d.source === "hex" || /Hex package/i.test(d.source)) {
      return `:${d.name} is a hex package, and builds cannot reach hex.pm: run \`mix deps.get\` on a machine that can and deploy the app with its deps/ folder (deps/${d.name}), or copy its source into the app and declare it as a path dependency, {:${d.name}, path: "vendor/${d.name}"}`;
    }
    const where = d.source ? ` (${d.source})` : "";
    return `:${d.name}${where}: ${d.reason ?? "not available"}; a path dependency must be inside the app's folder and deployed with it (check .stratignore/.gcloudignore), and git dependencies are not fetched: vendor them as path dependencies`;
  });
  return lines.join("\n");
}
