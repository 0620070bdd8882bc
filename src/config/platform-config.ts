/**
 * $STRATA_HOME/config.yaml: the operator's settings for the whole platform (an app's own live in its
 * app.yaml). Every key is optional and the file itself may be absent; a wrong key or value stops the
 * daemon at start with the file, line and what is allowed.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { configError } from "./config-issue.js";
import { screenKeys } from "./screen-keys.js";
import { issueLocator, readYamlMapping } from "./yaml-source.js";
import { findingFromZodIssue } from "./zod-issues.js";

const MIB = 1024 * 1024;

export const PlatformConfigSchema = z.object({
  pip: z
    .object({
      "index-url": z
        .string()
        .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), "must be an http:// or https:// URL")
        .describe("the URL of a Python package index (PyPI's simple API or a mirror), like https://pypi.org/simple")
        .optional(),
    })
    .optional(),
  isolate: z
    .object({
      "max-request-body-mb": z.number().int().min(1).max(4096).describe("a whole number of MiB, 1 to 4096").optional(),
    })
    .optional(),
});

/** What the daemon reads from config.yaml; absent settings keep their defaults. */
export interface PlatformConfig {
  /** pip resolves Python dependencies from this index (else only from the app's wheels/ and vendor/). */
  readonly pipIndexUrl?: string;
  /** A V8-isolate worker's request body may have this many bytes in all (else the driver's default). */
  readonly isolateMaxRequestBodyBytes?: number;
}

export function parsePlatformConfig(text: string, file = "config.yaml"): PlatformConfig {
  const { source, data } = readYamlMapping(text, file);
  const locate = issueLocator(source, file);
  const screened = screenKeys(PlatformConfigSchema, data, { ignored: {}, sourceText: (path) => source.sourceText(path) });
  const errors = screened.errors.map(locate);
  const parsed = PlatformConfigSchema.safeParse(data);
  if (!parsed.success) errors.push(...parsed.error.issues.map((issue) => locate(findingFromZodIssue(issue, PlatformConfigSchema, data))));
  if (errors.length > 0 || !parsed.success) throw configError(errors);
  const indexUrl = parsed.data.pip?.["index-url"];
  const bodyMb = parsed.data.isolate?.["max-request-body-mb"];
  return { ...(indexUrl !== undefined && { pipIndexUrl: indexUrl }), ...(bodyMb !== undefined && { isolateMaxRequestBodyBytes: bodyMb * MIB }) };
}

/** The file at `path`, or the defaults when there is none. */
export async function readPlatformConfig(path: string): Promise<PlatformConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw err;
  }
  return parsePlatformConfig(text, path);
}
