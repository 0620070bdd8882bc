import { spawn } from "node:child_process";

/**
 * A real zombie: a shell forks a child that exits at once, then execs `sleep`, which never reaps it. Node
 * reaps its own children, so it cannot make one itself. The sleeping parent is killed after the test
 * (the zombie is then reaped by whoever inherits it).
 */
export async function zombiePid(t: { after(fn: () => void): void }): Promise<{ zombie: number; parent: number }> {
  const parent = spawn("sh", ["-c", "true & echo $!; exec sleep 60"], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => void parent.kill("SIGKILL"));
  const line = await new Promise<string>((resolve, reject) => {
    parent.once("error", reject);
    parent.stdout.once("data", (c: Buffer) => resolve(c.toString()));
  });
  return { zombie: Number(line.trim()), parent: parent.pid! };
}
