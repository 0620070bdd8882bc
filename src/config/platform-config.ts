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

/** Where builds fetch dependencies unless config.yaml says otherwise: the registries App Engine's builds use. */
export const DEFAULT_PIP_INDEX_URL = "https://pypi.org/simple";
export const DEFAULT_GO_PROXY = "https://proxy.golang.org";

/** An http(s) URL, or `off`: no registry, builds use only what the app vendors. */
function registryUrl(what: string, example: string) {
  return z
    .string()
    .refine((s) => s === "off" || (URL.canParse(s) && /^https?:$/.test(new URL(s).protocol)), "must be an http:// or https:// URL, or off")
    .describe(`the URL of ${what}, like ${example}, or off (only what the app vendors)`)
    .optional();
}

export const PlatformConfigSchema = z.object({
  pip: z.object({ "index-url": registryUrl("a Python package index (PyPI's simple API or a mirror)", DEFAULT_PIP_INDEX_URL) }).optional(),
  go: z.object({ proxy: registryUrl("a Go module proxy (GOPROXY protocol)", DEFAULT_GO_PROXY) }).optional(),
  isolate: z
    .object({
      "max-request-body-mb": z.number().int().min(1).max(4096).describe("a whole number of MiB, 1 to 4096").optional(),
      engines: z.number().int().min(1).max(16).describe("a whole number of engine processes, 1 to 16").optional(),
    })
    .optional(),
  microvm: z
    .object({
      snapshots: z.boolean().describe("true or false: restore a version's later microVMs from a snapshot of its first").optional(),
      "snapshot-disk-mb": z.number().int().min(64).max(1048576).describe("a whole number of MiB, 64 to 1048576").optional(),
    })
    .optional(),
  vm: z
    .object({
      snapshots: z.boolean().describe("true or false: restore a version's later VMs from a snapshot of its first").optional(),
    })
    .optional(),
  scheduler: z
    .object({
      "app-start-timeout-sec": z
        .number()
        .int()
        .min(1)
        .max(1800)
        .describe("a whole number of seconds, 1 to 1800: how long an instance may take to listen unless its app.yaml readiness_check.app_start_timeout_sec says")
        .optional(),
    })
    .optional(),
});

/** What the daemon reads from config.yaml, defaults applied. */
export interface PlatformConfig {
  /** pip resolves Python dependencies from this index; absent (`off`): only from the app's wheels/ and vendor/. */
  readonly pipIndexUrl?: string;
  /** Go builds fetch modules from this proxy; absent (`off`): only from the app's vendor/. */
  readonly goProxy?: string;
  /** A V8-isolate worker's request body may have this many bytes in all (else the driver's default). */
  readonly isolateMaxRequestBodyBytes?: number;
  /** Engine processes V8-isolate tenants are spread over (else the driver's default). */
  readonly isolateEngines?: number;
  /** microVMs (and kata's sandbox VMs) after a version's first restore from its snapshot instead of booting (off unless set). */
  readonly microvmSnapshots?: boolean;
  /** What all microVM snapshots may take on disk, MiB (else the driver's default); least recently used go first. */
  readonly microvmSnapshotDiskMb?: number;
  /** Full VMs (the vm driver) after a version's first restore from its snapshot instead of booting (off unless set). */
  readonly vmSnapshots?: boolean;
  /** How long an instance may take to listen, ms, for apps whose app.yaml sets no app_start_timeout_sec (else by sandbox). */
  readonly appStartTimeoutMs?: number;
}

export function parsePlatformConfig(text: string, file = "config.yaml"): PlatformConfig {
  const { source, data } = readYamlMapping(text, file);
  const locate = issueLocator(source, file);
  const screened = screenKeys(PlatformConfigSchema, data, { ignored: {}, sourceText: (path) => source.sourceText(path) });
  const errors = screened.errors.map(locate);
  const parsed = PlatformConfigSchema.safeParse(data);
  if (!parsed.success) errors.push(...parsed.error.issues.map((issue) => locate(findingFromZodIssue(issue, PlatformConfigSchema, data))));
  if (errors.length > 0 || !parsed.success) throw configError(errors);
  const indexUrl = parsed.data.pip?.["index-url"] ?? DEFAULT_PIP_INDEX_URL;
  const goProxy = parsed.data.go?.proxy ?? DEFAULT_GO_PROXY;
  const bodyMb = parsed.data.isolate?.["max-request-body-mb"];
  const snapshots = parsed.data.microvm?.snapshots;
  return {
    ...(indexUrl !== "off" && { pipIndexUrl: indexUrl }),
    ...(goProxy !== "off" && { goProxy }),
    ...(bodyMb !== undefined && { isolateMaxRequestBodyBytes: bodyMb * MIB }),
    ...(parsed.data.isolate?.engines !== undefined && { isolateEngines: parsed.data.isolate.engines }),
    ...(snapshots === true && { microvmSnapshots: true }),
    ...(parsed.data.microvm?.["snapshot-disk-mb"] !== undefined && { microvmSnapshotDiskMb: parsed.data.microvm["snapshot-disk-mb"] }),
    ...(parsed.data.vm?.snapshots === true && { vmSnapshots: true }),
    ...(parsed.data.scheduler?.["app-start-timeout-sec"] !== undefined && { appStartTimeoutMs: parsed.data.scheduler["app-start-timeout-sec"] * 1000 }),
  };
}

/** The file at `path`, or the defaults when there is none. */
export async function readPlatformConfig(path: string): Promise<PlatformConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return parsePlatformConfig("", path);
    throw err;
  }
  return parsePlatformConfig(text, path);
}
