import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { withFileLock } from "../../system/file-lock.js";
import { OciLayout } from "../../images/index.js";
import { exec } from "../../system/exec.js";
import type { ImageRef } from "../driver.js";

const BUSYBOX = "/bin/busybox"; // Debian busybox-static: one static binary, no libc needed in the image

/**
 * The conformance app: busybox httpd on $PORT with CGI probes the suite calls from outside, run by a
 * shell that logs to stdout and stderr, exits on SIGTERM, and exits with a chosen code when
 * /cgi-bin/exit?N is requested. `/tmp` is the only writable place it needs; idle, it uses no CPU.
 */
const FILES: Record<string, { mode: number; text: string }> = {
  "etc/passwd": { mode: 0o644, text: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n" },
  "etc/group": { mode: 0o644, text: "root:x:0:\napp:x:1000:\n" },
  "etc/shadow": { mode: 0o640, text: "root:*:19000:0:99999:7:::\napp:!:19000:0:99999:7:::\n" },
  "www/index.html": { mode: 0o644, text: "ok\n" },
  "app/start.sh": {
    mode: 0o755,
    text: `#!/bin/sh
trap 'echo "got SIGTERM"; exit 143' TERM
echo "starting on $PORT"
echo "this goes to stderr" >&2
httpd -p "$PORT" -h /www
# Idle without polling: wait on a long sleep that /cgi-bin/exit kills; a trapped SIGTERM interrupts wait.
while [ ! -e /tmp/exit-code ]; do sleep 86400 & echo $! > /tmp/waiter; wait $!; done
code=$(cat /tmp/exit-code)
echo "exiting with $code"
exit "$code"
`,
  },
  "www/cgi-bin/env": { mode: 0o755, text: '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\nenv\n' },
  "www/cgi-bin/connect": {
    mode: 0o755,
    // QUERY_STRING is host:port; nc's exit status says whether a TCP connection was made within 2 s.
    text: `#!/bin/sh
printf "Content-Type: text/plain\\r\\n\\r\\n"
host=\${QUERY_STRING%:*}; port=\${QUERY_STRING##*:}
if nc -w 2 "$host" "$port" </dev/null >/dev/null 2>&1; then echo open; else echo closed; fi
`,
  },
  "www/cgi-bin/shadow": { mode: 0o755, text: '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\ncat /etc/shadow 2>&1\n' },
  "www/cgi-bin/status": { mode: 0o755, text: '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\ncat /proc/self/status\n' },
  "www/cgi-bin/unshare": {
    mode: 0o755,
    text: '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\nif unshare -U -r true 2>/dev/null; then echo allowed; else echo refused; fi\n',
  },
  "www/cgi-bin/uidmap": { mode: 0o755, text: '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\ncat /proc/self/uid_map\n' },
  "www/cgi-bin/exit": {
    mode: 0o755,
    // The waiter is killed a moment later, in the background, so the response is sent before the app exits.
    text: '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\necho "$QUERY_STRING" > /tmp/exit-code\necho bye\n(sleep 0.2; kill $(cat /tmp/waiter)) </dev/null >/dev/null 2>&1 &\n',
  },
};

const RUNTIME_CONFIG = {
  Entrypoint: ["/bin/sh", "/app/start.sh"],
  Env: ["PATH=/bin", "IMAGE_ONLY=from-image", "OVERRIDDEN=from-image"],
  WorkingDir: "/app",
  ExposedPorts: { "8080/tcp": {} as Record<string, never> },
};

/**
 * Builds (once per content, cached in `layoutDir` across test files and processes) the conformance
 * image from the host's busybox-static, and returns its ImageRef.
 */
export async function conformanceImage(layoutDir = join(tmpdir(), "strata-conformance-images")): Promise<ImageRef> {
  const busybox = await readFile(BUSYBOX).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw new StrataError("SANDBOX_UNAVAILABLE", `${BUSYBOX} is missing: install busybox-static`);
    throw err;
  });
  const hash = createHash("sha256").update(busybox).update(JSON.stringify({ FILES, RUNTIME_CONFIG })).digest("hex");
  const ref = `conformance/busybox:${hash.slice(0, 16)}`;
  const layout = new OciLayout(layoutDir);
  await layout.init();
  const found = await layout.find(ref);
  if (found) return { kind: "oci", digest: found.manifestDigest, path: layoutDir, ref };
  return withFileLock(join(layoutDir, "conformance.lock"), async () => {
    const again = await layout.find(ref);
    if (again) return { kind: "oci", digest: again.manifestDigest, path: layoutDir, ref };
    const root = await mkdtemp(join(tmpdir(), "strata-conformance-rootfs-"));
    try {
      await mkdir(join(root, "bin"));
      await writeFile(join(root, "bin", "busybox"), busybox, { mode: 0o755 });
      const applets = (await exec([BUSYBOX, "--list"])).stdout.split("\n").filter((a) => a && a !== "busybox");
      for (const applet of applets) await symlink("busybox", join(root, "bin", applet));
      for (const d of ["tmp", "proc", "sys", "dev", "etc", "www/cgi-bin", "app"]) await mkdir(join(root, d), { recursive: true });
      await chmod(join(root, "tmp"), 0o1777);
      for (const [path, f] of Object.entries(FILES)) {
        await writeFile(join(root, path), f.text);
        await chmod(join(root, path), f.mode);
      }
      const layer = await layout.addLayerFromDir(root);
      return await layout.writeImage([layer], RUNTIME_CONFIG, ref, [{ created_by: "strata conformance image (busybox-static)" }]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
}
