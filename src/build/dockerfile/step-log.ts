/**
 * Follows buildah's output line by line: which Dockerfile step runs (`STEP 2/5: RUN ...`, `[1/2] STEP
 * 3/4: ...` in multi-stage builds), which ones came from the cache (`--> Using cache <id>`), and the
 * output of the step that failed.
 */
export interface StepRecord {
  /** `2/5`, or `[1/2] 3/4` for stage 1 of 2. */
  position: string;
  instruction: string;
  cached: boolean;
  /** Output lines of the step (the last ones, for error messages). */
  output: string[];
}

const STEP_RE = /^(?:\[(\d+\/\d+)\] )?STEP (\d+\/\d+): (.*)$/;
const CACHE_RE = /^--> Using cache [0-9a-f]+/;
/** Lines of image-copy chatter that say nothing about the build. */
const NOISE_RE = /^(Getting image source signatures|Copying (blob|config) |Writing manifest to image destination|Storing signatures|time="[^"]*" level=\w+ msg="\+\(UNHANDLED LOGLEVEL\))/;
const KEEP_OUTPUT = 30;

export class StepLog {
  readonly steps: StepRecord[] = [];
  /** buildah's own `Error: ...` line(s), once it printed them. */
  readonly errors: string[] = [];
  private readonly log: (line: string) => void;

  constructor(log: (line: string) => void) {
    this.log = log;
  }

  line(line: string): void {
    if (NOISE_RE.test(line)) return;
    const step = STEP_RE.exec(line);
    if (step) {
      this.steps.push({ position: step[1] ? `[${step[1]}] ${step[2]}` : step[2]!, instruction: step[3]!, cached: false, output: [] });
      this.log(line);
      return;
    }
    const current = this.steps.at(-1);
    if (CACHE_RE.test(line) && current) {
      current.cached = true;
      this.log(`${line} (cached step ${current.position}: ${current.instruction})`);
      return;
    }
    if (line.startsWith("Error: ")) this.errors.push(cleanError(line));
    else if (current) {
      current.output.push(line);
      if (current.output.length > KEEP_OUTPUT) current.output.shift();
    }
    this.log(line);
  }

  get current(): StepRecord | undefined {
    return this.steps.at(-1);
  }

  /** Steps that ran a command (RUN), and whether every one of them came from the cache. */
  get allRunsCached(): boolean {
    const runs = this.steps.filter((s) => /^RUN\b/i.test(s.instruction));
    return runs.length > 0 && runs.every((s) => s.cached);
  }
}

/** buildah appends a Go struct dump to some parser errors (`&imagebuilder.Step{...}`); users need the sentence before it. */
function cleanError(line: string): string {
  return line.replace(/\s*&imagebuilder\.Step\{.*$/, "").trim();
}
