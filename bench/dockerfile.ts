import { appendFile, cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ImageBuildContext } from "../src/build/image-builder.js";
import { Buildah, BUILD_RUNTIME } from "../src/build/dockerfile/buildah.js";
import { DockerfileBuilder } from "../src/build/dockerfile/index.js";
import { StrataHome } from "../src/home.js";
import { ImageCatalog, imagePaths } from "../src/images/catalog.js";
import { OciLayout } from "../src/images/layout.js";
import { exec } from "../src/system/exec.js";
import { median, type BenchRow } from "./measure.js";

/**
 * Dockerfile build times for examples/ruby-app: a cold build (fresh buildah storage: the base image is
 * copied in from the layout, no step cache) and code-only rebuilds (steps before COPY cached), beside
 * `podman build` of the same Dockerfile in the same run. Base images come from the store shared with the
 * tests (STRATA_BENCH_IMAGES, default /var/tmp/strata-test-images); their one-time bootstrap is reported
 * only when this run had to do it.
 */
const EXAMPLE = fileURLToPath(new URL("../examples/ruby-app/", import.meta.url));
const REBUILDS = 3;

export async function benchDockerfile(): Promise<BenchRow[]> {
  const shared = new StrataHome(process.env.STRATA_BENCH_IMAGES ?? "/var/tmp/strata-test-images");
  const layout = new OciLayout(imagePaths(shared).layout);
  const catalog = new ImageCatalog(shared, layout);
  const rows: BenchRow[] = [];

  let bootstrapped = false;
  const t0 = performance.now();
  const base = await catalog.ensure("ruby:3.1", (line) => {
    if (line.startsWith("building base image")) bootstrapped = true;
  });
  if (bootstrapped) rows.push({ name: "ruby base image bootstrap (mmdebstrap)", value: seconds(t0), unit: "s" });

  const home = new StrataHome(await mkdtemp(join(tmpdir(), "strata-bench-df-")));
  const src = await mkdtemp(join(tmpdir(), "strata-bench-df-src-"));
  const app = `bench-df-${process.pid}`;
  try {
    await cp(EXAMPLE, src, { recursive: true });
    const builder = new DockerfileBuilder();
    const ctx = (version: string): ImageBuildContext => ({ app, version, sourceDir: src, spec: {}, home, layout, catalog, log: () => {} });

    const c0 = performance.now();
    const cold = await builder.build(ctx("v0"));
    rows.push({ name: "ruby-app cold Dockerfile build, Strata (buildah)", value: seconds(c0), unit: "s", peer: "podman build, cold" });
    rows.push({ name: "ruby-app image size", value: Math.round(cold.sizeBytes / 1e5) / 10, unit: "MB" });

    const times: number[] = [];
    for (let i = 1; i <= REBUILDS; i++) {
      await appendFile(join(src, "app.rb"), `\n# change ${i}\n`);
      const r0 = performance.now();
      const result = await builder.build(ctx(`v${i}`));
      times.push(seconds(r0));
      if (!result.cached.dependencies) throw new Error("a code-only rebuild ran its RUN step again");
    }
    rows.push({ name: `ruby-app code-only rebuild, Strata (buildah) (median of ${REBUILDS})`, value: median(times), unit: "s", peer: "podman build, code-only" });

    rows.push(...(await benchPodman(layout, base.ref!, src)));
  } finally {
    for (const img of await layout.list()) if (img.ref.startsWith(`apps/${app}:`)) await layout.untag(img.ref);
    await new Buildah(home).destroyStorage();
    await rm(home.root, { recursive: true, force: true });
    await rm(src, { recursive: true, force: true });
  }
  return rows;
}

/**
 * podman (4.3) building the same Dockerfile with its own storage. Its FROM resolves the way Strata's does:
 * the catalog's ruby image is loaded into podman's storage from the OCI layout (`podman pull
 * oci:<layout>:<ref>`, timed as part of the cold build, as Strata's copy into buildah's storage is) and
 * tagged `ruby:3.1`. crun fails on this host's hybrid cgroups, hence runc; podman also needs explicit
 * ulimits here. Its RUN steps use podman's default network (the host-wide CNI bridge).
 */
async function benchPodman(layout: OciLayout, baseRef: string, src: string): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), "strata-bench-podman-"));
  const podman = ["podman", "--root", join(dir, "root"), "--runroot", join(dir, "run"), "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "none", "--runtime", BUILD_RUNTIME];
  const build = [...podman, "build", "--pull=never", "--layers", "--format", "docker", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "-t", "bench-ruby-app", src];
  const rows: BenchRow[] = [];
  try {
    const c0 = performance.now();
    const id = (await exec([...podman, "pull", "--quiet", `oci:${layout.dir}:${baseRef}`])).stdout.trim();
    await exec([...podman, "tag", id, "ruby:3.1"]);
    await exec(build, { timeoutMs: 30 * 60_000 });
    rows.push({ name: "ruby-app cold Dockerfile build, podman build --runtime runc", value: seconds(c0), unit: "s", peer: "Strata (buildah), cold" });
    const times: number[] = [];
    for (let i = 1; i <= REBUILDS; i++) {
      await appendFile(join(src, "app.rb"), `\n# podman change ${i}\n`);
      const r0 = performance.now();
      const { stdout } = await exec(build, { timeoutMs: 30 * 60_000 });
      times.push(seconds(r0));
      if (!stdout.includes("Using cache")) throw new Error("podman's code-only rebuild used no cache");
    }
    rows.push({ name: `ruby-app code-only rebuild, podman build (median of ${REBUILDS})`, value: median(times), unit: "s", peer: "Strata (buildah), code-only" });
  } finally {
    await exec([...podman, "rmi", "--all", "--force"], { okCodes: [0, 1, 125] }); // non-zero when there is nothing to remove
    await exec([...podman, "system", "reset", "--force"], { okCodes: [0, 1, 125] });
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

function seconds(since: number): number {
  return Math.round((performance.now() - since) / 100) / 10;
}
