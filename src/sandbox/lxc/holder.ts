import { writeFile, rename } from "node:fs/promises";
import { join } from "node:path";

/**
 * The per-instance holder: a fixed POSIX sh program (never a command string built from input), run as
 * `sh holder.sh <exit file> lxc-execute …` with the arguments as an array. lxc-execute returns the app's
 * exit status (LXC's init passes it up); the holder records it where a daemon started later still finds
 * it, the way conmon's exit file does for OCI instances. It is written beside the instances at first use.
 */
const HOLDER = `#!/bin/sh
# Strata LXC instance holder: runs the command after the exit file and records its exit status there.
exit_file=$1
shift
"$@"
code=$?
printf '%s\\n' "$code" > "$exit_file.new"
mv -f "$exit_file.new" "$exit_file"
`;

/**
 * Inside the container, under LXC's init, run by the host's static busybox (bind-mounted read-only at
 * /.strata/busybox, so any image works): runs the app (its argv as arguments) and, when it ends, kills
 * what it left behind and exits with its status. LXC's init waits for every process, as a system's init
 * does; an app instance ends when its app does, as under runc, where the kernel ends the pid namespace.
 */
const MAIN = `# Strata LXC app wrapper: the app's end is the instance's end.
"$@"
code=$?
kill -KILL -1 2>/dev/null
exit "$code"
`;

export interface HolderFiles {
  /** The host side holder, run by the daemon. */
  readonly holder: string;
  /** The wrapper bind-mounted into each container at IN_CONTAINER.main. */
  readonly main: string;
}

/** Where the wrapper and the shell that runs it appear inside each container. */
export const IN_CONTAINER = { dir: "/.strata", busybox: "/.strata/busybox", main: "/.strata/main.sh" } as const;
/** Debian's busybox-static: one static binary, no libc needed in the image. */
export const HOST_BUSYBOX = "/bin/busybox";

export async function installHolder(dir: string): Promise<HolderFiles> {
  const write = async (name: string, text: string, mode: number) => {
    const path = join(dir, name);
    await writeFile(`${path}.new`, text, { mode });
    await rename(`${path}.new`, path);
    return path;
  };
  return { holder: await write("holder.sh", HOLDER, 0o755), main: await write("main.sh", MAIN, 0o644) };
}
