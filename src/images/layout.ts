import { createHash, randomBytes } from "node:crypto";
import { pathExists } from "../system/fs.js";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../errors.js";
import { exec } from "../system/exec.js";
import type { ImageRef } from "./image-ref.js";

/**
 * An OCI image layout on disk (image-spec's `oci-layout` + `index.json` + `blobs/sha256`). Strata keeps
 * every image — base images and build results alike — in one layout, so a layer shared by many images is
 * stored once, and `skopeo inspect oci:DIR:REF` / `umoci` read it as they are.
 */
export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

export const REF_ANNOTATION = "org.opencontainers.image.ref.name";
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The runtime part of an image config, as the image-spec names it. */
export interface ImageRuntimeConfig {
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

export interface ImageConfig {
  created?: string;
  architecture: string;
  os: string;
  config: ImageRuntimeConfig;
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
}

/** A layer as written: its descriptor (compressed or not) and the digest of its uncompressed tar. */
export interface Layer {
  descriptor: Descriptor;
  diffId: string;
}

export interface ResolvedImage {
  ref: string;
  manifestDigest: string;
  manifest: ImageManifest;
  config: ImageConfig;
}

export interface ImageSummary {
  ref: string;
  digest: string;
  /** Sum of the layers' sizes, bytes. */
  size: number;
  created: string | undefined;
}

/** OCI ref names: the image-spec's `ref.name` grammar, narrowed to what Strata produces. */
export function assertRefName(ref: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}$/.test(ref)) {
    throw new StrataError("INVALID_ARGUMENT", `"${ref}" is not a valid image reference (letters, digits, . _ : / -)`);
  }
}

export class OciLayout {
  readonly dir: string;
  /** Serialises index.json rewrites within this process (the daemon is the only writer). */
  private indexLock: Promise<unknown> = Promise.resolve();

  constructor(dir: string) {
    this.dir = dir;
  }

  async init(): Promise<void> {
    await mkdir(join(this.dir, "blobs", "sha256"), { recursive: true });
    await mkdir(join(this.dir, "tmp"), { recursive: true });
    const layoutFile = join(this.dir, "oci-layout");
    if (!(await pathExists(layoutFile))) {
      await writeFile(layoutFile, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    }
    if (!(await pathExists(join(this.dir, "index.json")))) {
      await this.writeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [] });
    }
  }

  blobPath(digest: string): string {
    if (!DIGEST_RE.test(digest)) throw new StrataError("INVALID_ARGUMENT", `not a sha256 digest: ${digest}`);
    return join(this.dir, "blobs", "sha256", digest.slice("sha256:".length));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return pathExists(this.blobPath(digest));
  }

  async putBlob(data: Buffer | string, mediaType: string): Promise<Descriptor> {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    const digest = `sha256:${createHash("sha256").update(buf).digest("hex")}`;
    const target = this.blobPath(digest);
    if (!(await pathExists(target))) {
      const tmp = this.tmpPath();
      await writeFile(tmp, buf);
      await rename(tmp, target);
    }
    return { mediaType, digest, size: buf.length };
  }

  /** Moves a file into the blob store (it must be on the same filesystem as the layout). */
  async adoptBlobFile(path: string, mediaType: string): Promise<Descriptor> {
    const digest = await sha256File(path);
    const size = (await stat(path)).size;
    const target = this.blobPath(digest);
    if (await pathExists(target)) await rm(path, { force: true });
    else await rename(path, target);
    return { mediaType, digest, size };
  }

  /**
   * Tars a directory into an uncompressed layer (uncompressed so diffId = digest and no CPU is spent on
   * gzip for a local store). GNU tar keeps ownership, modes, hardlinks, xattrs and device nodes exactly.
   */
  async addLayerFromDir(dir: string): Promise<Layer> {
    const tmp = this.tmpPath();
    await exec(["tar", "--create", "--file", tmp, "--directory", dir, "--numeric-owner", "--sort=name", "--xattrs", "."]);
    const descriptor = await this.adoptBlobFile(tmp, MEDIA_TYPES.layer);
    return { descriptor, diffId: descriptor.digest };
  }

  /** Writes config + manifest for `layers` and points `ref` at it. */
  async writeImage(
    layers: readonly Layer[],
    runtime: ImageRuntimeConfig,
    ref: string,
    history: ImageConfig["history"] = [],
  ): Promise<ImageRef> {
    assertRefName(ref);
    const created = new Date().toISOString();
    const config: ImageConfig = {
      created,
      architecture: ociArch(),
      os: "linux",
      config: runtime,
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history,
    };
    const configDesc = await this.putBlob(JSON.stringify(config), MEDIA_TYPES.config);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      config: configDesc,
      layers: layers.map((l) => l.descriptor),
      annotations: { "org.opencontainers.image.created": created },
    };
    const manifestDesc = await this.putBlob(JSON.stringify(manifest), MEDIA_TYPES.manifest);
    await this.tag(ref, manifestDesc);
    return { kind: "oci", digest: manifestDesc.digest, path: this.dir, ref };
  }

  /** Points `ref` at a manifest, replacing any earlier manifest of that ref. */
  async tag(ref: string, manifest: Descriptor): Promise<void> {
    assertRefName(ref);
    await this.withIndex((index) => {
      index.manifests = index.manifests.filter((m) => m.annotations?.[REF_ANNOTATION] !== ref);
      index.manifests.push({
        mediaType: MEDIA_TYPES.manifest,
        digest: manifest.digest,
        size: manifest.size,
        annotations: { [REF_ANNOTATION]: ref },
      });
    });
  }

  async untag(ref: string): Promise<void> {
    await this.withIndex((index) => {
      index.manifests = index.manifests.filter((m) => m.annotations?.[REF_ANNOTATION] !== ref);
    });
  }

  /** Resolves a ref (or a manifest digest) to its manifest and config; null when unknown. */
  async find(refOrDigest: string): Promise<ResolvedImage | null> {
    const index = await this.readIndex();
    const entry = index.manifests.find(
      (m) => m.annotations?.[REF_ANNOTATION] === refOrDigest || m.digest === refOrDigest,
    );
    if (!entry) return null;
    const manifest = await this.readJsonBlob<ImageManifest>(entry.digest);
    const config = await this.readJsonBlob<ImageConfig>(manifest.config.digest);
    return { ref: entry.annotations?.[REF_ANNOTATION] ?? refOrDigest, manifestDigest: entry.digest, manifest, config };
  }

  async resolve(refOrDigest: string): Promise<ResolvedImage> {
    const found = await this.find(refOrDigest);
    if (!found) throw new StrataError("NOT_FOUND", `no image "${refOrDigest}" in ${this.dir}`);
    return found;
  }

  async list(): Promise<ImageSummary[]> {
    const index = await this.readIndex();
    const out: ImageSummary[] = [];
    for (const m of index.manifests) {
      const ref = m.annotations?.[REF_ANNOTATION];
      if (!ref) continue;
      const manifest = await this.readJsonBlob<ImageManifest>(m.digest);
      out.push({
        ref,
        digest: m.digest,
        size: manifest.layers.reduce((n, l) => n + l.size, 0),
        created: manifest.annotations?.["org.opencontainers.image.created"],
      });
    }
    return out.sort((a, b) => a.ref.localeCompare(b.ref));
  }

  /** Every descriptor index.json lists (tagged or not): the roots of what the layout keeps. */
  async roots(): Promise<Descriptor[]> {
    return (await this.readIndex()).manifests;
  }

  async readJsonBlob<T>(digest: string): Promise<T> {
    return JSON.parse(await readFile(this.blobPath(digest), "utf8")) as T;
  }

  private tmpPath(): string {
    return join(this.dir, "tmp", `${process.pid}-${randomBytes(6).toString("hex")}`);
  }

  private async readIndex(): Promise<ImageIndex> {
    return JSON.parse(await readFile(join(this.dir, "index.json"), "utf8")) as ImageIndex;
  }

  private async writeIndex(index: ImageIndex): Promise<void> {
    const tmp = this.tmpPath();
    await writeFile(tmp, JSON.stringify(index, null, 2));
    await rename(tmp, join(this.dir, "index.json"));
  }

  private async withIndex(change: (index: ImageIndex) => void): Promise<void> {
    const run = this.indexLock.then(async () => {
      const index = await this.readIndex();
      change(index);
      await this.writeIndex(index);
    });
    this.indexLock = run.catch(() => undefined); // a failed rewrite must not wedge later ones; `run` still rejects to its caller
    await run;
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

function ociArch(): string {
  return process.arch === "x64" ? "amd64" : process.arch;
}
