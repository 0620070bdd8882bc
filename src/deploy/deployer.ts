import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { StrataError, asStrataError } from "../errors.js";
import { extractArchive, receiveUpload } from "../artifacts/index.js";
import { functionOf, functionVersionSpec, parseAppYaml, parseFunctionYaml, storedSpec, type AppYaml, type ConfigWarning } from "../config/index.js";
import { type Builder, buildStaticTree, detectAppKind } from "../build/index.js";
import type { BlobStore } from "../artifacts/index.js";
import type { StrataHome } from "../home.js";
import type { Artifact, Store, VersionRecord } from "../store/index.js";
import type { DriverCatalog, SandboxDriver } from "../sandbox/index.js";
import type { TrafficService } from "./traffic-service.js";

export interface DeployOptions {
  version?: string;
  promote: boolean;
  /** A hosted function: its folder has a function.yaml (Lambda's settings) instead of an app.yaml. */
  function?: boolean;
  /** A function's settings given as flags (function.yaml's keys), over its function.yaml. */
  functionConfig?: Record<string, unknown>;
}

export interface DeployEvents {
  step(message: string): void;
  log(line: string): void;
  warning(message: string): void;
}

export interface DeployerDeps {
  home: StrataHome;
  store: Store;
  builders: readonly Builder[];
  drivers: DriverCatalog;
  traffic: TrafficService;
  maxUploadBytes: number;
  blobs: BlobStore;
}

/** App Engine's default version name: the deploy time, e.g. 20261125t031522. */
export function timestampVersion(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, "").replace("T", "t").slice(0, 15);
}

/**
 * The deploy path: upload → extract → app.yaml → build → version ready → (optionally) traffic. A failed
 * step marks the version failed and leaves the serving versions as they were.
 */
export class Deployer {
  constructor(private readonly deps: DeployerDeps) {}

  /** A driver runs only the artifact kinds its capabilities list: say so now, not when an instance starts. */
  private refuseUnrunnable(driver: SandboxDriver, kind: string, produces: Artifact["kind"]): void {
    if ((driver.capabilities.imageKinds as readonly string[]).includes(produces)) return;
    const able = this.deps.drivers.all().filter((d) => (d.capabilities.imageKinds as readonly string[]).includes(produces)).map((d) => d.name);
    throw new StrataError(
      "INVALID_CONFIG",
      `sandbox "${driver.name}" cannot run this app: a ${kind} app builds an ${produces} artifact, and ${driver.name} runs only ${driver.capabilities.imageKinds.join(", ")}` +
        (able.length ? `; use sandbox: ${able.join(" or ")} in app.yaml, or leave sandbox: out` : ""),
      { driver: driver.name, artifact: produces },
    );
  }

  async deploy(app: string, upload: Readable, opts: DeployOptions, events: DeployEvents): Promise<VersionRecord> {
    const { home, store } = this.deps;
    const work = join(home.builds, `${app}-${Date.now()}-${randomBytes(4).toString("hex")}`);
    await mkdir(home.uploads, { recursive: true });
    events.step("receiving the upload");
    const received = await receiveUpload(upload, home.uploads, this.deps.maxUploadBytes);
    let record: VersionRecord | undefined;
    try {
      const sourceDir = join(work, "src");
      await extractArchive(received.path, sourceDir);
      const { spec, warnings } = opts.function ? await readFunctionYaml(sourceDir, opts.functionConfig ?? {}) : await readAppYaml(sourceDir);
      refuseKindChange(store.listVersions(app), app, opts.function === true);
      for (const w of warnings) events.warning(`app.yaml:${w.line}:${w.column}: ${w.message}`);
      if (spec?.service && spec.service !== app) {
        throw new StrataError("INVALID_CONFIG", `app.yaml says service: ${spec.service}, but this deploy is for app "${app}"`);
      }
      const version = opts.version ?? timestampVersion();
      const existing = store.getVersion(app, version);
      if (existing && existing.status !== "failed") {
        throw new StrataError("ALREADY_EXISTS", `version "${version}" of app "${app}" already exists; pick another --version or delete it first`);
      }
      const kind = opts.function ? "function" : await detectAppKind(sourceDir, spec);
      const builder = this.deps.builders.find((b) => b.kinds.includes(kind));
      if (!builder) throw new StrataError("UNSUPPORTED_RUNTIME", `this Strata version cannot build ${kind} apps yet`);
      // Choose the sandbox before building, so a deploy that cannot run here fails in a second.
      const driver = kind === "static" ? undefined : await this.deps.drivers.choose(kind, spec?.sandbox);
      if (driver) this.refuseUnrunnable(driver, kind, builder.produces);

      if (!store.getApp(app)) {
        store.createApp(app);
        store.addEvent({ type: "app.created", app, message: `app ${app} created` });
      }
      record = {
        app,
        version,
        status: "building",
        runtime: spec?.runtime ?? kind,
        ...(driver && { driver: driver.name }),
        spec: storedSpec(spec),
        sourceDigest: received.digest,
        sizeBytes: 0,
        createdAt: new Date().toISOString(),
      };
      store.putVersion(record);
      store.addEvent({ type: "version.building", app, version, message: `building ${kind} app` });
      events.step(`building ${kind} app with the ${builder.name} builder`);
      const out = await builder.build({ app, version, kind, sourceDir, spec, home, log: events.log });
      // App Engine serves static_dir / static_files handlers of apps with code without touching them.
      const staticTree = kind !== "static" && hasStaticHandlers(spec) ? (await buildStaticTree(sourceDir, this.deps.blobs, events.log)).treeDigest : undefined;
      record = { ...record, status: "ready", runtime: out.runtime, ...(out.runs !== undefined && { runs: out.runs }), artifact: out.artifact, sizeBytes: out.sizeBytes, ...(staticTree && { staticTree }) };
      store.putVersion(record);
      store.addEvent({ type: "version.deployed", app, version, message: `version ${version} built (${out.artifact.kind} ${out.artifact.digest.slice(0, 19)})` });
      if (opts.promote) {
        events.step(`moving all traffic to ${version}`);
        await this.deps.traffic.migrate(app, version, events.log);
      } else {
        // Versions with no traffic still answer at their own URL, so warm it like any other.
        await this.deps.traffic.refreshRoutes();
      }
      return record;
    } catch (err) {
      const e = asStrataError(err);
      if (record) {
        store.putVersion({ ...record, status: "failed", error: e.message });
        store.addEvent({ type: "version.failed", app, version: record.version, message: e.message });
      }
      throw e;
    } finally {
      await rm(work, { recursive: true, force: true });
      await rm(received.path, { force: true });
    }
  }
}

/** Apps and functions share one namespace of names: a name stays what its first version made it. */
function refuseKindChange(versions: readonly VersionRecord[], name: string, isFunction: boolean): void {
  const live = versions.find((v) => v.status !== "failed" && v.status !== "deleted");
  if (!live || Boolean(functionOf(live.spec)) === isFunction) return;
  throw new StrataError(
    "CONFLICT",
    isFunction ? `"${name}" is already an app; a function needs another name (or delete the app: strata apps delete ${name})` : `"${name}" is a function; deploy it with strata functions deploy, or pick another app name`,
  );
}

async function readFunctionYaml(dir: string, overrides: Record<string, unknown>): Promise<{ spec: AppYaml; warnings: ConfigWarning[] }> {
  let file: string | undefined;
  let text: string | undefined;
  for (const name of ["function.yaml", "function.yml"]) {
    text = await readFile(join(dir, name), "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (text !== undefined) {
      file = name;
      break;
    }
  }
  // Stored as the version's spec: the function's settings plus the scaling that gives Lambda's model.
  const spec: AppYaml = functionVersionSpec(parseFunctionYaml(text, file, overrides));
  return { spec, warnings: [] };
}

function hasStaticHandlers(spec: AppYaml | undefined): boolean {
  return (spec?.handlers ?? []).some((h) => "static_dir" in h || "static_files" in h);
}

async function readAppYaml(dir: string): Promise<{ spec: AppYaml | undefined; warnings: ConfigWarning[] }> {
  for (const name of ["app.yaml", "app.yml"]) {
    let text: string;
    try {
      text = await readFile(join(dir, name), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    return parseAppYaml(text, name);
  }
  return { spec: undefined, warnings: [] };
}
