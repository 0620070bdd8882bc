/** Reads app.yaml as App Engine Standard does, into a typed spec plus warnings; every problem at once. */
import { IGNORED_APP_ENGINE_KEYS } from "./app-yaml-ignored.js";
import { AppYamlSchema, type AppYaml } from "./app-yaml-schema.js";
import { configError, formatPath, type ConfigWarning, type Finding } from "./config-issue.js";
import { RUNTIMES } from "./runtimes.js";
import { screenKeys, type UnknownKey } from "./screen-keys.js";
import { issueLocator, readYamlMapping } from "./yaml-source.js";
import { findingFromZodIssue, valueAt } from "./zod-issues.js";

export interface ParsedAppYaml {
  spec: AppYaml;
  warnings: ConfigWarning[];
}

const EMPTY_FILE = "the file is empty; it needs at least a runtime, like `runtime: python312`";

export function parseAppYaml(text: string, file = "app.yaml"): ParsedAppYaml {
  const { source, data, warnings } = readYamlMapping(text, file, EMPTY_FILE);
  const locate = issueLocator(source, file);
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
