import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { StrataError } from "../../errors.js";

/**
 * The "isolate-bundle" artifact: a directory holding one bundled ES module (`entry`), the .wasm
 * modules it imports (by file name, next to it), and this manifest. The isolate builder writes it;
 * the isolate driver and its engine read it.
 */
export const BUNDLE_MANIFEST_FILE = "manifest.json";

const JsonValue: z.ZodType<unknown> = z.unknown();

export const BundleManifestSchema = z.object({
  format: z.literal("strata-isolate-bundle/1"),
  /** The worker's ES module, relative to the bundle dir. */
  entry: z.string().regex(/^[\w.-]+\.js$/),
  /** "worker": a Workers-style module; "wasi-cgi": a WASI program served CGI-style. */
  kind: z.enum(["worker", "wasi-cgi"]),
  name: z.string().optional(),
  compatibilityDate: z.string().optional(),
  /** wrangler [vars]; the instance env (app.yaml env_variables) wins over them. */
  vars: z.record(z.string(), JsonValue),
  /** wrangler kv_namespaces: env name and namespace id; the driver keeps each namespace per app. */
  kvNamespaces: z.array(z.object({ binding: z.string(), id: z.string().regex(/^[\w.-]+$/) })).default([]),
  /** wrangler compatibility_flags; nodejs_compat's modules are in the bundle itself. */
  compatibilityFlags: z.array(z.string()).default([]),
  /** .wasm files next to the entry that the entry imports by "./<name>". */
  wasmModules: z.array(z.string().regex(/^[\w.-]+\.wasm$/)),
});
export type BundleManifest = z.infer<typeof BundleManifestSchema>;

export async function readBundleManifest(bundleDir: string): Promise<BundleManifest> {
  const file = join(bundleDir, BUNDLE_MANIFEST_FILE);
  let raw: string;
  try {
    raw = await readFile(file, "utf8");
  } catch (err) {
    throw new StrataError("DRIVER_FAILED", `isolate bundle has no readable ${file}`, { bundleDir }, { cause: err });
  }
  const parsed = BundleManifestSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) {
    throw new StrataError("DRIVER_FAILED", `isolate bundle manifest ${file} is invalid: ${parsed.error.message}`, { bundleDir });
  }
  return parsed.data;
}
