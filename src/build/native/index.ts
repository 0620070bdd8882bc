/** The C/C++ buildpack: CMake, Meson or Make with Debian's toolchain, the app on Debian minbase with the libraries it links. */
export { NativeBuilder, binaryOf } from "./builder.js";
export { detectBuildSystem } from "./build-system.js";
