/**
 * Procfile: one `type: command` a line (Heroku's format). Strata runs the `web` process; the caller
 * decides what a missing `web` means.
 */
import { configError, type ConfigIssue } from "./config-issue.js";

const LINE_RE = /^([A-Za-z0-9_-]+)[ \t]*:[ \t]*(.*)$/;

export function parseProcfile(text: string, file = "Procfile"): Record<string, string> {
  const processes: Record<string, string> = {};
  const seenAt = new Map<string, number>();
  const issues: ConfigIssue[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const match = LINE_RE.exec(trimmed);
    const issue = (message: string, path = ""): void => {
      issues.push({ file, line, column: raw.length - raw.trimStart().length + 1, path, message });
    };
    if (match === null) {
      issue(`expected \`type: command\` (like \`web: node server.js\`), got ${JSON.stringify(trimmed)}`);
      return;
    }
    const [, type, command] = match as unknown as [string, string, string];
    const earlier = seenAt.get(type);
    if (earlier !== undefined) issue(`already defined on line ${earlier}`, type);
    else if (command.trim() === "") issue("has no command", type);
    else {
      processes[type] = command.trim();
      seenAt.set(type, line);
    }
  });
  if (issues.length > 0) throw configError(issues);
  if (seenAt.size === 0) {
    throw configError([{ file, line: 1, column: 1, path: "", message: "no process types; add a line like `web: node server.js`" }]);
  }
  return processes;
}
