/**
 * Run by scripts/test.sh twice: `record <file>` before the first test file, `check <file>` after the last.
 * `check` names what the suite left on the host and fails the run: each test cleans up after itself, and
 * this catches the ones that did not (a VM, a container, a netns, a mount), so a leak shows as a failure
 * instead of as a machine that slowly fills up. What was on the host before the suite started (another
 * run's leak, killed half-way) is not the suite's: it is named, not counted. Caches shared between runs
 * (the test image store, the cargo target) are not leftovers.
 */
import { execFileSync } from "node:child_process";
import { readdir, readFile, readlink, writeFile } from "node:fs/promises";

const CACHES = ["/var/tmp/strata-test-images", "/var/tmp/strata-cargo-target"];
/** Where tests put their homes and stores: /var/tmp/strata-<kind>-XXXXXX and os.tmpdir()'s strata-*. */
const TEST_PATH = /\/(?:var\/)?tmp\/strata-[^\s/]+/;

function testPathIn(text: string): string | undefined {
  const m = TEST_PATH.exec(text);
  return m && !CACHES.some((c) => m[0].startsWith(c)) ? m[0] : undefined;
}

async function processes(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").then((c) => c.replaceAll("\0", " ").trim(), () => "");
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => ""); // gone meanwhile, or a kernel thread
    const path = testPathIn(cmdline) ?? testPathIn(cwd);
    if (path) found.push(`process ${pid} (${cmdline.slice(0, 160)}) uses ${path}`);
  }
  return found;
}

function lines(cmd: string, args: string[]): string[] {
  return execFileSync(cmd, args, { encoding: "utf8" }).split("\n").filter((l) => l.trim() !== "");
}

async function network(): Promise<string[]> {
  const netns = lines("ip", ["netns", "list"]).map((l) => l.split(" ")[0]!).filter((n) => n.startsWith("strata-"));
  const links = lines("ip", ["-o", "link", "show"])
    .map((l) => l.split(": ")[1]?.split("@")[0] ?? "")
    .filter((n) => /^(sv-|strata)/.test(n));
  // Each bridge has its own nftables tables (firewall.ts), which outlive a bridge deleted by hand.
  const tables = lines("nft", ["list", "tables"]).filter((l) => /^table \S+ strata/.test(l)).map((l) => `nftables ${l.slice("table ".length)}`);
  return [...netns.map((n) => `netns ${n}`), ...links.map((n) => `link ${n}`), ...tables];
}

/** Containers under the runtimes' default roots, and VMMs or LXD daemons wherever they were started from. */
function sandboxes(): string[] {
  const listed = (cmd: string, args: string[]): string[] => {
    try {
      return lines(cmd, args);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return []; // the tool is not installed: it made nothing
      throw err;
    }
  };
  return [
    ...listed("runc", ["list", "-q"]).map((c) => `runc container ${c}`),
    ...listed("runsc", ["list", "-quiet"]).map((c) => `runsc container ${c}`),
    ...listed("lxc-ls", ["-1"]).map((c) => `lxc container ${c}`),
  ];
}

async function vmmsAndDaemons(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((p) => /^\d+$/.test(p))) {
    const comm = await readFile(`/proc/${pid}/comm`, "utf8").then((c) => c.trim(), () => "");
    if (/^(qemu-system-x86|firecracker|lxd)$/.test(comm)) found.push(`process ${pid} (${comm})`);
  }
  return found;
}

async function mounts(): Promise<string[]> {
  const table = await readFile("/proc/self/mounts", "utf8");
  return table.split("\n").filter((l) => testPathIn(l.split(" ")[1] ?? "") !== undefined).map((l) => `mount ${l.split(" ")[1]}`);
}

const survey = async (): Promise<string[]> => [...new Set([...(await processes()), ...(await vmmsAndDaemons()), ...sandboxes(), ...(await network()), ...(await mounts())])];

const [mode, file] = process.argv.slice(2);
if (!file || (mode !== "record" && mode !== "check")) {
  console.error("usage: host-leftovers.ts record|check <file>");
  process.exit(2);
}
if (mode === "record") {
  await writeFile(file, JSON.stringify(await survey()));
  process.exit(0);
}
const before = new Set(JSON.parse(await readFile(file, "utf8")) as string[]);
const leftByTheSuite = async (): Promise<string[]> => (await survey()).filter((f) => !before.has(f));
// A daemon a test stopped may still be on its way out (LXD takes a few seconds): look again before failing.
let found = await leftByTheSuite();
for (let i = 0; i < 20 && found.length > 0; i++) {
  await new Promise((r) => setTimeout(r, 500));
  found = await leftByTheSuite();
}
if (before.size > 0) {
  console.log(`==> ${before.size} thing(s) were on this host before the suite started (not the suite's; remove them by hand):`);
  for (const f of before) console.log(`    ${f}`);
}
if (found.length > 0) {
  console.error(`==> the test suite left ${found.length} thing(s) on this host; the test that made each must remove it:`);
  for (const f of found) console.error(`    ${f}`);
  process.exit(1);
}
console.log("==> the test suite left no process, container, VM, netns, link, nftables table or mount behind");
