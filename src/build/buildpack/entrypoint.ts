import { join } from "node:path";
import type { AppYamlLike } from "../image-builder.js";
import { readIfExists } from "./source.js";

/**
 * How the app starts, in App Engine's order: app.yaml `entrypoint`, else a Procfile `web:` line (as
 * Heroku and Cloud Native Buildpacks read it), else the language's default. The command is a shell
 * command line, run with `/bin/sh -c` like App Engine does, so `$PORT` expands at start.
 */
export interface StartCommand {
  entrypoint: string[];
  /** Where it came from, for the build log. */
  source: "app.yaml" | "Procfile" | "default";
  command: string;
}

export async function startCommand(sourceDir: string, spec: AppYamlLike, fallback: string): Promise<StartCommand> {
  const fromSpec = spec.entrypoint?.trim();
  if (fromSpec) return shell(fromSpec, "app.yaml");
  const web = procfileWeb(await readIfExists(join(sourceDir, "Procfile")));
  if (web) return shell(web, "Procfile");
  return shell(fallback, "default");
}

/** The `web:` process of a Procfile (src/config owns full Procfile parsing; this reads the one line a build needs). */
export function procfileWeb(text: string | null): string | undefined {
  if (!text) return undefined;
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*web\s*:\s*(.+?)\s*$/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

function shell(command: string, source: StartCommand["source"]): StartCommand {
  return { entrypoint: ["/bin/sh", "-c", withExec(command)], source, command };
}

/**
 * `exec cmd` for a simple command line, so the app replaces the shell as the container's PID 1 and gets
 * the runtime's SIGTERM (dash does not exec the last command itself, and a PID 1 shell ignores SIGTERM).
 * Command lines with shell operators are left as written.
 */
export function withExec(command: string): string {
  if (/[;&|\n`()]|\$\(/.test(command)) return command;
  const [, assignments = "", rest = ""] = /^((?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)(.*)$/s.exec(command.trim()) ?? [];
  if (/^exec\s/.test(rest)) return command;
  return `${assignments}exec ${rest}`;
}
