import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { exec, which } from "../../src/system/exec.js";

/** The Rust function written against the `lambda_runtime` crate from crates.io (nothing Strata-specific). */
export const RUST_FUNCTION_DIR = fileURLToPath(new URL("../fixtures/functions/rust-hello", import.meta.url));
/** Cargo's target dir outside the tree, kept between runs, so a rebuild is incremental (seconds, not minutes). */
export const CARGO_TARGET_DIR = "/var/tmp/strata-cargo-target";

/**
 * Builds the fixture with cargo (the crates come from crates.io once, then from cargo's registry cache)
 * and returns the path of its `bootstrap` binary, or a reason to skip when this host has no cargo.
 */
export async function buildRustBootstrap(log: (line: string) => void = () => {}): Promise<{ bootstrap: string } | { skip: string }> {
  const cargo = (await which("cargo")) ?? (await which(join(homedir(), ".cargo", "bin", "cargo")));
  if (!cargo) return { skip: "cargo is not installed (scripts/setup-host.sh installs the Rust toolchain)" };
  const started = Date.now();
  await exec([cargo, "build", "--release", "--locked", "--manifest-path", join(RUST_FUNCTION_DIR, "Cargo.toml")], {
    env: { ...process.env, CARGO_TARGET_DIR },
    timeoutMs: 15 * 60_000,
    onOutput: (chunk) => log(chunk.trimEnd()),
  });
  log(`cargo build: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { bootstrap: join(CARGO_TARGET_DIR, "release", "bootstrap") };
}
