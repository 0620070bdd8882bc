import { readFileSync } from "node:fs";

/** Whether a process with this pid exists (EPERM: it exists but is someone else's). A zombie exists too. */
export function processExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EPERM") return true;
    if (code === "ESRCH") return false;
    throw err;
  }
}

/** What /proc/PID/stat says of a process: its state letter (R, S, D, Z …) and its start time in clock ticks after boot. */
export interface ProcStat {
  state: string;
  startTime: number;
}

export function procStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch (err) {
    // ESRCH: the process went between the open and the read.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ESRCH") return undefined;
    throw err;
  }
  // Field 2, the command name, is in parentheses and may hold spaces and ")": fields 3 on follow the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0]!, startTime: Number(fields[19]) };
}

/**
 * Whether the process recorded as `pid` (with its procStat startTime, when known) still runs. A zombie
 * does not: it has exited and only waits for its parent (PID 1 may take its time) to reap it. A pid with
 * another start time is not it either: the pid was reused by a newer process.
 */
export function processRunning(pid: number, startTime?: number): boolean {
  const s = procStat(pid);
  return s !== undefined && s.state !== "Z" && (startTime === undefined || s.startTime === startTime);
}
