import { spawn } from "node:child_process";

/**
 * A real zombie: a Python process forks a child that exits at once and never reaps it (Python installs no
 * SIGCHLD handler; a shell's `true &` may be reaped by the shell itself on a loaded host). Node reaps its
 * own children, so it cannot make one itself. The parent is killed after the test (the zombie is then
 * reaped by whoever inherits it).
 */
export async function zombiePid(t: { after(fn: () => void): void }): Promise<{ zombie: number; parent: number }> {
  const script = "import os, sys, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(600)\n";
  const parent = spawn("python3", ["-c", script], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => void parent.kill("SIGKILL"));
  const line = await new Promise<string>((resolve, reject) => {
    parent.once("error", reject);
    parent.stdout.once("data", (c: Buffer) => resolve(c.toString()));
  });
  return { zombie: Number(line.trim()), parent: parent.pid! };
}
