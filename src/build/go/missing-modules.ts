/**
 * Reads `go build`'s complaints about modules it could not get (builds are offline: GOPROXY=off) and
 * names the modules, so the message tells the user what to vendor.
 */
const MODULE_AT_VERSION = [
  /go: downloading (\S+) (v\S+)/g, // printed just before "module lookup disabled by GOPROXY=off"
  /(\S+)@(v\S+): (?:module lookup disabled|missing go\.sum entry|reading|verifying)/g,
];
const PACKAGE = [
  /missing go\.sum entry for module providing package (\S+)/g,
  /no required module provides package (\S+?);/g,
  /cannot find module providing package (\S+?):/g,
  /cannot find package "([^"]+)"/g,
];

/** The module paths in go.mod's `require` lines and block. */
export function requiredModules(goMod: string): string[] {
  const out: string[] = [];
  let inBlock = false;
  for (const raw of goMod.split("\n")) {
    const line = raw.replace(/\/\/.*$/, "").trim();
    if (inBlock) {
      if (line === ")") inBlock = false;
      else if (line) out.push(line.split(/\s+/)[0]!);
    } else if (/^require\s*\($/.test(line)) inBlock = true;
    else {
      const m = /^require\s+(\S+)\s+\S+/.exec(line);
      if (m) out.push(m[1]!);
    }
  }
  return out;
}

/**
 * The modules (with version when go printed one) behind a failed offline build, in order of appearance.
 * A package is attributed to the required module that is its longest prefix; failing that, it is named itself.
 */
export function missingModules(goOutput: string, goMod: string): string[] {
  const found = new Map<string, string>();
  for (const re of MODULE_AT_VERSION) {
    for (const m of goOutput.matchAll(re)) found.set(m[1]!, `${m[1]}@${m[2]}`);
  }
  const required = requiredModules(goMod).sort((a, b) => b.length - a.length);
  for (const re of PACKAGE) {
    for (const m of goOutput.matchAll(re)) {
      const pkg = m[1]!;
      const module = required.find((r) => pkg === r || pkg.startsWith(`${r}/`)) ?? pkg;
      if (![...found.keys()].includes(module)) found.set(module, module);
    }
  }
  return [...found.values()];
}
