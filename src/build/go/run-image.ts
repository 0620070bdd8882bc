import { chmod, copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Layer, OciLayout } from "../../images/index.js";

/** Where the app's binary lives in the run image. */
export const SERVER = "/app/server";
export const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

const PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n";
const GROUP = "root:x:0:\nnogroup:x:65534:\n";

/**
 * The one layer of a Go app's run image: the static binary, the CA bundle (for outbound TLS), an
 * /etc/passwd and /etc/group that name nobody (the user it runs as), and a /tmp. No toolchain, no shell,
 * no libc: nothing but what the binary opens. Files are root-owned and read-only to the app.
 */
export async function runImageLayer(layout: OciLayout, staging: string, binary: string, caBundle: string): Promise<Layer> {
  await rm(staging, { recursive: true, force: true });
  try {
    for (const d of ["app", "etc/ssl/certs", "tmp"]) await mkdir(join(staging, d), { recursive: true, mode: 0o755 });
    await chmod(join(staging, "tmp"), 0o1777);
    await copyFile(binary, join(staging, SERVER));
    await chmod(join(staging, SERVER), 0o755);
    await copyFile(caBundle, join(staging, CA_BUNDLE));
    await chmod(join(staging, CA_BUNDLE), 0o644);
    await writeFile(join(staging, "etc/passwd"), PASSWD, { mode: 0o644 });
    await writeFile(join(staging, "etc/group"), GROUP, { mode: 0o644 });
    return await layout.addLayerFromDir(staging);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
