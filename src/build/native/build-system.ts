import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { exists } from "../buildpack/source.js";

/** How a C or C++ app builds, in /app, with the build image's toolchain (two jobs: the hosts have two cores). */
export interface BuildSystem {
  readonly name: "cmake" | "meson" | "make";
  readonly file: string;
  /** Shell commands, run in /app. */
  readonly commands: readonly string[];
}

const SYSTEMS: readonly BuildSystem[] = [
  { name: "cmake", file: "CMakeLists.txt", commands: ["cmake -S . -B build -DCMAKE_BUILD_TYPE=Release", "cmake --build build --parallel 2"] },
  { name: "meson", file: "meson.build", commands: ["meson setup build --buildtype=release", "meson compile -C build -j 2"] },
  { name: "make", file: "Makefile", commands: ["make -j2"] },
];

/** The first build file the app has, in CMake, Meson, Make order (a CMake project may ship a Makefile too). */
export async function detectBuildSystem(sourceDir: string): Promise<BuildSystem> {
  for (const s of SYSTEMS) if (await exists(join(sourceDir, s.file))) return s;
  throw new StrataError("BUILD_FAILED", "a C or C++ app needs a CMakeLists.txt, meson.build or Makefile at its root to say how it builds");
}
