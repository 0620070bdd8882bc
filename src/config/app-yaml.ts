/** Reads app.yaml as App Engine Standard does, into a typed spec plus warnings; every problem at once. */
import { isMap, isScalar, isSeq } from "yaml";
import { IGNORED_APP_ENGINE_KEYS } from "./app-yaml-ignored.js";
import { AppYamlSchema, type AppYaml } from "./app-yaml-schema.js";
import { configError, formatPath, type ConfigIssue, type ConfigWarning, type Finding } from "./config-issue.js";
import { RUNTIMES } from "./runtimes.js";
import { screenKeys, type UnknownKey } from "./screen-keys.js";
import { YamlSource } from "./yaml-source.js";
import { findingFromZodIssue, valueAt } from "./zod-issues.js";

export interface ParsedAppYaml {
  spec: AppYaml;
  warnings: ConfigWarning[];
}

const EMPTY_FILE = "the file is empty; it needs at least a runtime, like `runtime: python312`";

export function parseAppYaml(text: string, file = "app.yaml"): ParsedAppYaml {
  const { source, data, warnings } = readMapping(text, file);
  const locate = (finding: Finding): ConfigIssue => ({
    file,
    ...source.locate(finding.path, finding.atKey),
    path: formatPath(finding.path),
    message: finding.message,
    ...(finding.allowed === undefined ? {} : { allowed: finding.allowed }),
  });
  const screened = screenKeys(AppYamlSchema, data, {
    ignored: IGNORED_APP_ENGINE_KEYS,
    sourceText: (path) => source.sourceText(path),
  });
  warnings.push(...screened.warnings.map(locate));
  const parsed = AppYamlSchema.safeParse(data);
  const errors = screened.errors.map(locate);
  if (!parsed.success) {
    const findings = parsed.error.issues.map((issue) => findingFromZodIssue(issue, AppYamlSchema, data));
    errors.push(...withoutTypoEchoes(findings, screened.errors, data).map(locate));
  }
  if (errors.length > 0 || !parsed.success) throw configError(errors);

  warnings.push(...specWarnings(parsed.data).map(locate));
  warnings.sort((a, b) => a.line - b.line || a.column - b.column);
  return { spec: parsed.data, warnings };
}

/** The file as YAML data whose top level is a mapping; anything else is an error at its line. */
function readMapping(text: string, file: string): { source: YamlSource; data: Record<string, unknown>; warnings: ConfigWarning[] } {
  const fileStart = { file, line: 1, column: 1, path: "" };
  if (text.trim() === "") throw configError([{ ...fileStart, message: EMPTY_FILE }]);
  const source = new YamlSource(text);
  if (source.doc.errors.length > 0) {
    throw configError(
      source.doc.errors.map((err) => ({ ...fileStart, ...source.position(err.pos[0]), message: `YAML syntax error: ${err.message}` })),
    );
  }
  const top = source.doc.contents;
  if (top === null || (isScalar(top) && top.value === null)) throw configError([{ ...fileStart, message: EMPTY_FILE }]);
  if (!isMap(top)) {
    const got = isSeq(top) ? "a list" : "a single value";
    throw configError([{ ...fileStart, ...source.locate([]), message: `the top level must be a mapping of keys (like \`runtime: python312\`), got ${got}` }]);
  }
  let data: Record<string, unknown>;
  try {
    data = source.doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  } catch (err) {
    // The document parsed, so what fails here is its content (an alias bomb): a problem of the file.
    throw configError([{ ...fileStart, message: `cannot be read: ${(err as Error).message}` }]);
  }
  const warnings = source.doc.warnings.map((w) => ({ ...fileStart, ...source.position(w.pos[0]), message: w.message }));
  return { source, data, warnings };
}

/**
 * A misspelt key leaves its mapping without the key it meant (`static_dri:` -> "a handler needs one of
 * static_dir, ..."; `max_instance:` -> "max_instances: missing"). Those echoes of the typo are dropped:
 * the typo's own error says what to fix.
 */
function withoutTypoEchoes(findings: Finding[], typos: readonly UnknownKey[], data: unknown): Finding[] {
  const typoParents = new Set(typos.map((typo) => formatPath(typo.path.slice(0, -1))));
  const meantPaths = new Set(typos.flatMap((typo) => (typo.meant === undefined ? [] : [formatPath([...typo.path.slice(0, -1), typo.meant])])));
  return findings.filter((finding) => {
    const path = formatPath(finding.path);
    if (typoParents.has(path)) return false;
    return !(meantPaths.has(path) && valueAt(data, finding.path) === undefined);
  });
}

/** Valid settings Strata nonetheless ignores in this combination. */
function specWarnings(spec: AppYaml): Finding[] {
  const found: Finding[] = [];
  spec.inbound_services?.forEach((service, i) => {
    if (service !== "warmup") {
      found.push({ path: ["inbound_services", i], message: `Strata does not deliver ${service}; ignored (only warmup is acted on)` });
    }
  });
  const language = RUNTIMES[spec.runtime]?.language;
  if (spec.main !== undefined && language !== "go") {
    found.push({ path: ["main"], message: `only used by Go runtimes; ignored for ${spec.runtime}` });
  }
  spec.handlers?.forEach((handler, i) => {
    if (handler.script === undefined) return;
    for (const key of ["http_headers", "expiration", "mime_type"] as const) {
      if (handler[key] !== undefined) {
        found.push({ path: ["handlers", i, key], atKey: true, message: "applies to static handlers only; ignored on a script handler (the app sets its own)" });
      }
    }
  });
  return found;
}
