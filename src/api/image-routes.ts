import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { receiveUpload } from "../artifacts/index.js";
import type { StrataHome } from "../home.js";
import type { ImageGc } from "../deploy/index.js";
import { StrataError } from "../errors.js";
import { importImage, importedNames, importedRef, type ImageCatalog, type LayoutLock, type OciLayout } from "../images/index.js";
import { type BaseImageRecipe, chooseLanguageImage, RECIPES, RUNS_LABEL } from "../images/index.js";
import { RUNTIMES } from "../config/index.js";
import { parseInput, queryOf, sendJson, startStream } from "./http.js";
import type { Route } from "./routes.js";
import { ErrorBody } from "./schemas.js";

export const ImageOut = z.object({
  name: z.string(),
  aliases: z.array(z.string()),
  kind: z.enum(["base", "imported"]),
  describes: z.string().optional(),
  /** The app.yaml runtime ids this image runs: its own version's, and the ones it stands in for as the nearest newer. */
  runtimes: z.array(z.string()).optional(),
  /** The exact language version the built image carries ("3.13.5"). */
  runs: z.string().optional(),
  built: z.boolean(),
  digest: z.string().optional(),
  sizeBytes: z.number().optional(),
  created: z.string().optional(),
});
export type ImageOut = z.infer<typeof ImageOut>;

const Removed = z.object({ count: z.number(), bytes: z.number() });

export const PruneResultOut = z.object({
  dryRun: z.boolean(),
  sharedLayout: z.boolean(),
  images: z.array(z.string()),
  blobs: Removed,
  unpackedLayers: Removed,
  shiftedLayers: Removed,
  debris: Removed,
  buildah: z.object({ images: z.array(z.string()), bytes: z.number() }),
  artifacts: z.object({ blobs: Removed, isolateBundles: Removed, debris: Removed, recentKept: z.number() }),
  inUseKept: z.number(),
  bytesFreed: z.number(),
  durationMs: z.number(),
});

/** One line of a prune's progress stream (NDJSON). */
export const PruneProgress = z.discriminatedUnion("type", [
  z.object({ type: z.literal("log"), line: z.string() }),
  z.object({ type: z.literal("done"), result: PruneResultOut }),
  z.object({ type: z.literal("error"), error: ErrorBody.shape.error }),
]);
export type PruneProgress = z.infer<typeof PruneProgress>;

const PruneQuery = z.object({ dryRun: z.enum(["true", "false"]).default("false") });

const ImportQuery = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?$/, "NAME[:TAG], e.g. mybase:1.0"),
});

/** The local image catalog: base images built from Debian packages, and images imported from files. */
export interface ImageRouteDeps {
  home: StrataHome;
  layout: OciLayout;
  catalog: ImageCatalog;
  /** Imports write into the layout as LayoutLock writers. */
  lock: LayoutLock;
  gc: ImageGc;
  maxUploadBytes: number;
}

export function imageRoutes(deps: ImageRouteDeps): Route[] {
  const { home, layout, catalog, lock, gc, maxUploadBytes } = deps;
  return [
    {
      method: "GET",
      path: "/v1/images",
      summary: "Base images (built on first use from Debian packages) and imported images",
      auth: true,
      response: ImageOut.array(),
      async handle(_req, res) {
        const built = new Map((await catalog.list()).map((i) => [i.ref, i]));
        const out: Array<z.infer<typeof ImageOut>> = [];
        for (const r of RECIPES) {
          const b = built.get(await catalog.refFor(r.name));
          const runtimes = servedRuntimes(r);
          const runs = b && (await layout.resolve(b.ref)).config.config.Labels?.[RUNS_LABEL];
          out.push({
            name: r.name,
            aliases: [...r.aliases],
            kind: "base",
            describes: r.describes,
            ...(runtimes.length > 0 && { runtimes }),
            ...(runs && { runs }),
            built: b !== undefined,
            ...(b && { digest: b.digest, sizeBytes: b.size, ...(b.created && { created: b.created }) }),
          });
        }
        const all = new Map((await layout.list()).map((i) => [i.ref, i]));
        for (const name of await importedNames(layout)) {
          const i = all.get(importedRef(name));
          out.push({ name, aliases: [], kind: "imported", built: true, ...(i && { digest: i.digest, sizeBytes: i.size, ...(i.created && { created: i.created }) }) });
        }
        sendJson(res, 200, out);
      },
    },
    {
      method: "POST",
      path: "/v1/images/import",
      summary: "Import an OCI archive, a docker-save archive or a rootfs tarball as NAME:TAG (body: the file)",
      auth: true,
      query: ImportQuery,
      async handle(req, res) {
        const { name } = parseInput(ImportQuery, queryOf(req));
        const dir = join(home.uploads, `image-${randomBytes(6).toString("hex")}`);
        await mkdir(dir, { recursive: true });
        try {
          const upload = await receiveUpload(req, dir, maxUploadBytes);
          const imported = await lock.write(() => importImage(layout, upload.path, name));
          sendJson(res, 200, { name: imported.name, format: imported.format, digest: imported.image.digest });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    },
    {
      method: "POST",
      path: "/v1/images/prune",
      summary: "Remove app images no version uses, then unreferenced blobs, unpacked and shifted layers, buildah's dangling images, and artifacts (static trees, isolate bundles) no version uses; streams progress as NDJSON",
      auth: true,
      query: PruneQuery,
      response: PruneProgress,
      streams: true,
      async handle(req, res) {
        const { dryRun } = parseInput(PruneQuery, queryOf(req));
        const send = startStream(res);
        try {
          const result = await gc.prune({ dryRun: dryRun === "true", buildCache: true }, (line) => send({ type: "log", line }));
          send({ type: "done", result });
        } catch (err) {
          const e = err instanceof StrataError ? err : new StrataError("INTERNAL", (err as Error).message);
          send({ type: "error", error: e.toJSON() });
        }
        res.end();
      },
    },
  ];
}

/** The runtime ids `recipe` runs: exact ones, then those it serves as the nearest newer, marked so. */
function servedRuntimes(recipe: BaseImageRecipe): string[] {
  const runs = recipe.runs;
  if (!runs) return [];
  const exact: string[] = [];
  const nearest: string[] = [];
  for (const [id, info] of Object.entries(RUNTIMES)) {
    if (info.language !== runs.language || info.version === undefined || !/^\d+\.\d+$/.test(info.version)) continue;
    let choice;
    try {
      choice = chooseLanguageImage(runs.language, info.version);
    } catch (err) {
      if (err instanceof StrataError && err.code === "UNSUPPORTED_RUNTIME") continue; // newer than every image
      throw err;
    }
    if (choice.recipe.name !== recipe.name) continue;
    (choice.exact ? exact : nearest).push(choice.exact ? id : `${id} (nearest newer)`);
  }
  return [...exact, ...nearest];
}
