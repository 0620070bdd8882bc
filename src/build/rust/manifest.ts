import { parse } from "smol-toml";
import { StrataError } from "../../errors.js";

/** What the Rust buildpack reads from Cargo.toml and Cargo.lock. */
export interface CargoManifest {
  /** The binaries the package builds: each `[[bin]]` name, else the package's own name (src/main.rs). */
  bins: string[];
  /** `[package] rust-version`, the oldest Rust the package builds with ("1.85"). */
  rustVersion?: string;
}

export function readCargoManifest(text: string): CargoManifest {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new StrataError("BUILD_FAILED", `Cargo.toml is not valid TOML: ${(err as Error).message}`, undefined, { cause: err });
  }
  const pkg = (doc["package"] ?? {}) as Record<string, unknown>;
  const declared = Array.isArray(doc["bin"]) ? (doc["bin"] as Array<Record<string, unknown>>).map((b) => b["name"]).filter((n): n is string => typeof n === "string") : [];
  const name = typeof pkg["name"] === "string" ? pkg["name"] : undefined;
  const bins = declared.length ? declared : name ? [name] : [];
  if (!bins.length) throw new StrataError("BUILD_FAILED", "Cargo.toml names no package and no [[bin]]: a Rust app is a package with a binary (a [package] name and src/main.rs)");
  const rustVersion = typeof pkg["rust-version"] === "string" ? /^(\d+\.\d+)/.exec(pkg["rust-version"])?.[1] : undefined;
  return { bins, ...(rustVersion !== undefined && { rustVersion }) };
}

/**
 * The Rust minor an app asks for: app.yaml `runtime: rust1NN`, else Cargo.toml's `rust-version`, else
 * what its Cargo.lock's format needs (version 4 is written by cargo 1.78 and later; older cargo cannot
 * read it); none when nothing says (the oldest Rust Strata has).
 */
export function askedRustVersion(runtime: string | undefined, manifest: CargoManifest, lock: string | null): string | undefined {
  const fromRuntime = /^rust1(\d+)$/.exec(runtime ?? "");
  if (fromRuntime) return `1.${fromRuntime[1]}`;
  if (runtime !== undefined) return undefined;
  if (manifest.rustVersion !== undefined) return manifest.rustVersion;
  if (lock !== null && /^version\s*=\s*4\s*$/m.test(lock)) return "1.78";
  return undefined;
}
