/** The Rust buildpack: cargo build --release --locked with a dependency layer cached by Cargo.lock, a minimal run image. */
export { RustBuilder } from "./builder.js";
export { askedRustVersion, readCargoManifest } from "./manifest.js";
