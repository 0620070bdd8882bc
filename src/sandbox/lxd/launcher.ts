import { copyFile, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { ignoreMissing, pathExists } from "../../system/fs.js";
import type { EndedState } from "../driver.js";

/**
 * Where the launcher appears inside an app instance: its program (the host's static busybox and the
 * script, one read-only LXD `disk` device shared by every instance) and the instance's own io directory
 * (a writable `disk` device: the argv in, the app's output and its exit status out).
 */
export const IN_INSTANCE = { bin: "/.strata/bin", io: "/.strata/io" } as const;

/** LXC's init command: three arguments without whitespace, so lxc.init.cmd's splitting cannot harm them. */
export const LAUNCHER_INIT_CMD = `${IN_INSTANCE.bin}/busybox sh ${IN_INSTANCE.bin}/launch.sh`;

/** Debian's busybox-static: one static binary, so the launcher runs in any image (distroless too). */
export const HOST_BUSYBOX = "/bin/busybox";

/**
 * The launcher, pid 1 of an app instance (a fixed POSIX sh program; the argv is data it reads, never a
 * string it evaluates). It reads the app's argv from `argv` (NUL-separated, so an argument keeps its
 * spaces, quotes and newlines), its working directory from `cwd` and its uid and gid from `user` (LXC's
 * own lxc.init.uid fails LXD's start), runs it as that user with stdout and stderr
 * appended to two files of the io directory (followed from the host, so the streams stay apart), forwards
 * LXD's stop signal (SIGPWR, LXC's lxc.signal.halt) and SIGTERM to it as SIGTERM, and when it ends kills
 * what it left behind (as the end of runc's pid namespace would) and writes its exit status with the
 * container cgroup's OOM-kill and refused-fork counters (mounted read-only by `lxc.mount.auto =
 * cgroup:ro:force`), which LXC removes with the container. Only builtins run after the app, so a fork
 * refused at the pids limit cannot keep the status from being written. `exit` is written last: its
 * appearance says `status` is complete.
 */
const LAUNCH_SH = `# Strata LXD launcher: pid 1 of an app instance.
io=${IN_INSTANCE.io}
exec >>"$io/stdout" 2>>"$io/stderr"
set --
while IFS= read -r -d '' arg; do set -- "$@" "$arg"; done <"$io/argv"
IFS= read -r -d '' cwd <"$io/cwd"
read -r uid gid <"$io/user"
child=
code=
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM PWR INT
if [ "$#" -eq 0 ]; then
  echo "strata launcher: no command to run" >&2
  code=127
elif ! cd "$cwd"; then
  code=126
else
  if [ "$uid" = 0 ] && [ "$gid" = 0 ]; then
    "$@" </dev/null &
  else
    # busybox nsenter without a namespace: drops supplementary groups, sets gid and uid, execs the app.
    ${IN_INSTANCE.bin}/busybox nsenter -S "$uid" -G "$gid" -- "$@" </dev/null &
  fi
  child=$!
  while :; do
    wait "$child"
    code=$?
    # A trapped signal ends wait early (status > 128) while the app still runs: wait for it again.
    if [ "$code" -gt 128 ] && kill -0 "$child" 2>/dev/null; then continue; fi
    break
  done
fi
kill -KILL -1 2>/dev/null
{
  echo "code $code"
  for f in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do
    [ -r "$f" ] && while read -r k v; do [ "$k" = oom_kill ] && echo "oom_kill $v"; done <"$f"
  done
  for f in /sys/fs/cgroup/pids/pids.events /sys/fs/cgroup/pids.events; do
    [ -r "$f" ] && while read -r k v; do [ "$k" = max ] && echo "pids_max $v"; done <"$f"
  done
} >"$io/status"
: >"$io/exit"
exit "$code"
`;

/** Writes the launcher (busybox and launch.sh) into `dir`, atomically per file; returns `dir`. */
export async function installLauncher(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const put = async (name: string, write: (tmp: string) => Promise<void>) => {
    const tmp = join(dir, `.${name}.new`);
    await write(tmp);
    await rename(tmp, join(dir, name));
  };
  await put("busybox", async (tmp) => {
    await copyFile(HOST_BUSYBOX, tmp).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new StrataError("SANDBOX_UNAVAILABLE", `${HOST_BUSYBOX} is missing: install busybox-static (scripts/setup-host.sh does)`);
      throw err;
    });
  });
  await put("launch.sh", (tmp) => writeFile(tmp, LAUNCH_SH, { mode: 0o644 }));
  return dir;
}

/** An instance's io directory with what the launcher reads: argv and cwd (NUL-terminated), the app's uid and gid. */
export async function writeInvocation(ioDir: string, argv: readonly string[], cwd: string, user: { uid: number; gid: number }): Promise<void> {
  if (argv.some((a) => a.includes("\0")) || cwd.includes("\0")) throw new StrataError("INVALID_ARGUMENT", "a command argument or working directory contains a NUL byte");
  await mkdir(ioDir, { recursive: true, mode: 0o700 });
  await writeFile(join(ioDir, "argv"), argv.map((a) => `${a}\0`).join(""), { mode: 0o644 });
  await writeFile(join(ioDir, "cwd"), `${cwd}\0`, { mode: 0o644 });
  await writeFile(join(ioDir, "user"), `${user.uid} ${user.gid}\n`, { mode: 0o644 });
}

/** One entry of LXD's `volatile.idmap.*` (JSON): container ids nsid… map to host ids hostid…. */
interface IdmapEntry {
  Isuid: boolean;
  Isgid: boolean;
  Hostid: number;
  Nsid: number;
  Maprange: number;
}

/**
 * The host uid and gid that a uid and gid inside the instance are, from the instance's
 * `volatile.idmap.next` (the map LXD chose at create): the io directory belongs to the container's root,
 * as which the launcher writes the app's output and status there.
 */
export function hostOwner(idmapJson: string | undefined, uid: number, gid: number): { uid: number; gid: number } {
  const map = JSON.parse(idmapJson ?? "[]") as IdmapEntry[];
  const find = (id: number, user: boolean) => {
    const e = map.find((m) => (user ? m.Isuid : m.Isgid) && id >= m.Nsid && id < m.Nsid + m.Maprange);
    if (!e) throw new StrataError("DRIVER_FAILED", `LXD's id map of the instance has no host ${user ? "uid" : "gid"} for ${id}`);
    return e.Hostid + (id - e.Nsid);
  };
  return { uid: find(uid, true), gid: find(gid, false) };
}

/**
 * How the app ended, from the launcher's `status` file; null while the launcher has not written `exit`.
 * A signal at the memory limit is an OOM kill; a failure after refused forks is the pids limit.
 */
export async function readExit(ioDir: string): Promise<EndedState | null> {
  if (!(await pathExists(join(ioDir, "exit")))) return null;
  return parseStatus(await readFile(join(ioDir, "status"), "utf8").catch(ignoreMissing("")));
}

export function parseStatus(text: string): EndedState {
  const fields = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) fields.set(key, (fields.get(key) ?? 0) + Number(value));
  }
  const code = fields.get("code");
  if (code === undefined) return { status: "exited", code: -1, reason: "exited" }; // unreadable: said as unknown
  if ((fields.get("oom_kill") ?? 0) > 0) return { status: "exited", code, reason: "oom-killed" };
  if (code !== 0 && (fields.get("pids_max") ?? 0) > 0) return { status: "exited", code, reason: "pids-limit" };
  return { status: "exited", code, reason: code > 128 ? "killed" : "exited" };
}
