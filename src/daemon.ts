import { rm, writeFile } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import { ApiServer, coreRoutes, ensureToken, functionRoutes, imageRoutes, instanceRoutes, metricsRoute } from "./api/index.js";
import { BlobStore } from "./artifacts/index.js";
import { DockerfileBuilder, ElixirBuilder, FunctionBuilder, GoBuilder, ImageBuilder, IsolateBuilder, JavaBuilder, NativeBuilder, NodeBuilder, OsBuilder, PhpBuilder, PythonBuilder, RustBuilder, StaticBuilder, sweepBuildpackWork, sweepRunIsolation } from "./build/index.js";
import { Deployer, failInterruptedDeploys, ImageGc, TrafficService } from "./deploy/index.js";
import { readPlatformConfig } from "./config/index.js";
import { ImageCatalog, imagePaths, LayoutLock, OciLayout } from "./images/index.js";
import type { DaemonInfo } from "./daemon-info.js";
import type { StrataHome } from "./home.js";
import { LogStore } from "./logs/index.js";
import { buildRouteTable, Router, staticSiteLoader } from "./router/index.js";
import { createSandboxes, DriverCatalog, pruneDriversShiftedLayers } from "./sandbox/index.js";
import { networkReadiness, Scheduler } from "./scheduler/index.js";
import { PlatformMetrics } from "./metrics/index.js";
import { SqliteStore } from "./store/index.js";
import { Functions, RUNTIME_API_PORT } from "./functions/index.js";
import { procStat } from "./system/process.js";

export interface DaemonOptions {
  apiPort: number;
  routerPort: number;
  routerHost: string;
  domain: string;
  defaultApp?: string;
  /** Largest upload accepted, bytes (default 512 MiB). */
  maxUploadBytes?: number;
}

export interface Daemon {
  info: DaemonInfo;
  close(): Promise<void>;
}

/** Structured daemon logs: one JSON object per line on stdout (daemon.log when detached). */
function log(level: "info" | "error", msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + "\n");
}

export async function startDaemon(home: StrataHome, opts: DaemonOptions): Promise<Daemon> {
  // Traverse-only for others: sandboxes' mapped root walks this path to their rootfs; secrets inside
  // (the token) are 0600 themselves.
  await mkdir(home.root, { recursive: true, mode: 0o711 });
  // Read first: a wrong config.yaml stops the start before anything is made, with the line to fix.
  const config = await readPlatformConfig(home.configFile);
  const token = await ensureToken(home.tokenFile);
  const store = new SqliteStore(home.db);
  const blobs = new BlobStore(home.artifacts);
  const logs = new LogStore(home.logs);
  const onWarning = (message: string) => {
    log("error", message);
    store.addEvent({ type: "daemon.warning", message });
  };
  const drivers = new DriverCatalog(
    createSandboxes(home, {
      onWarning,
      ...(config.isolateMaxRequestBodyBytes !== undefined && { isolateMaxRequestBodyBytes: config.isolateMaxRequestBodyBytes }),
      ...(config.isolateEngines !== undefined && { isolateEngines: config.isolateEngines }),
      ...(config.microvmSnapshots && { microvmSnapshots: true }),
      ...(config.microvmSnapshotDiskMb !== undefined && { microvmSnapshotDiskMb: config.microvmSnapshotDiskMb }),
      ...(config.vmSnapshots && { vmSnapshots: true }),
    }),
  );

  let router: Router | undefined;
  let metrics: PlatformMetrics | undefined;
  let functions: Functions | undefined;
  const scheduler = new Scheduler({
    store,
    drivers,
    logs,
    ...(config.appStartTimeoutMs !== undefined && { readyTimeoutMs: config.appStartTimeoutMs }),
    onEndpointGone: (i) => {
      router?.forgetEndpoint(i.endpoint);
      functions?.instanceGone(i.endpoint);
    },
    onColdStart: (app, version, driver, ms) => metrics?.coldStart(app, version, driver, ms),
    // Function instances are ready when their runtime asks the Runtime API for work; apps when they listen.
    readiness: { ready: (endpoint, o) => (o.via === "runtime-api" && functions ? functions.ready(endpoint, o) : networkReadiness.ready(endpoint, o)), answers: networkReadiness.answers },
    runtimeApi: () => functions?.runtimeApiAddress,
  });
  const fns = new Functions({
    instances: scheduler,
    logs,
    events: store,
    versionOf: (fn, version) => store.getVersion(fn, version),
    asyncQueueDir: home.asyncQueue,
    peakMemoryOf: (app, instanceId, since) => scheduler.peakMemoryOf(app, instanceId, since),
  });
  functions = fns;
  metrics = new PlatformMetrics(() => scheduler.snapshot());
  const m = metrics;
  router = new Router({
    domain: opts.domain,
    ...(opts.defaultApp && { defaultApp: opts.defaultApp }),
    logs,
    instances: scheduler,
    functionUrls: fns.urls,
    onRequest: (info) => m.request(info),
  });
  const loadSite = staticSiteLoader(blobs);
  const r = router;
  const refreshRoutes = async () => r.setTable(await buildRouteTable(store, loadSite));
  const traffic = new TrafficService(store, scheduler, refreshRoutes);
  const maxUploadBytes = opts.maxUploadBytes ?? 512 * 1024 * 1024;
  const layout = new OciLayout(imagePaths(home).layout);
  await layout.init();
  const lock = new LayoutLock(imagePaths(home).locks);
  const images = {
    layout,
    catalog: new ImageCatalog(home, layout),
    lock,
    ...(config.pipIndexUrl !== undefined && { pipIndexUrl: config.pipIndexUrl }),
    ...(config.goProxy !== undefined && { goProxy: config.goProxy }),
  };
  const driverNames = drivers.all().map((d) => d.name);
  const pruneLayerCopies = (keep: ReadonlySet<string>, o: { dryRun: boolean; minAgeMs: number }) => pruneDriversShiftedLayers(home, driverNames, keep, o);
  const imageGc = new ImageGc({ home, store, layout, lock, blobs, pruneLayerCopies, warn: onWarning });
  const deployer = new Deployer({
    home,
    store,
    builders: [
      new StaticBuilder(blobs),
      new IsolateBuilder(),
      new ImageBuilder(new PythonBuilder(), ["python"], images),
      new ImageBuilder(new NodeBuilder(), ["nodejs"], images),
      new ImageBuilder(new DockerfileBuilder(), ["docker"], images),
      new ImageBuilder(new GoBuilder(), ["go"], images),
      new ImageBuilder(new ElixirBuilder(), ["elixir"], images),
      new ImageBuilder(new PhpBuilder(), ["php"], images),
      new ImageBuilder(new OsBuilder(), ["os"], images),
      new ImageBuilder(new FunctionBuilder(), ["function"], images),
      new ImageBuilder(new JavaBuilder(), ["java"], images),
      new ImageBuilder(new RustBuilder(), ["rust"], images),
      new ImageBuilder(new NativeBuilder(), ["c", "cpp"], images),
    ],
    drivers,
    traffic,
    maxUploadBytes,
    blobs,
  });

  // What a killed daemon left mid-deploy and mid-build, cleared before the API takes new deploys.
  for (const v of await failInterruptedDeploys(home, store)) onWarning(`version ${v} was building when the daemon stopped; it is marked failed`);
  await sweepBuildpackWork(home);
  await sweepRunIsolation(home.tag);
  await refreshRoutes();
  // Lambda's Runtime API, on the bridge address instances reach (and only that port of the host).
  try {
    const address = await fns.listen(await drivers.offerHostService(RUNTIME_API_PORT), RUNTIME_API_PORT);
    log("info", "Runtime API listening", { address });
  } catch (err) {
    onWarning(`Lambda's Runtime API could not start, so functions cannot run on this host: ${(err as Error).message}`);
  }
  const routerPort = await router.listen(opts.routerPort, opts.routerHost);
  const portSuffix = routerPort === 80 ? "" : `:${routerPort}`;
  const urlOf = (app: string, version?: string) => `http://${version ? `${version}-dot-` : ""}${app}.${opts.domain}${portSuffix}`;
  const functionUrlOf = (name: string) => `http://${name}.fn.${opts.domain}${portSuffix}`;
  const api = new ApiServer(
    [...coreRoutes({ store, deployer, traffic, logs, drivers, runtime: scheduler, imageGc, urlOf, maxUploadBytes }), ...instanceRoutes(store, scheduler), ...imageRoutes({ ...images, home, gc: imageGc, maxUploadBytes }),
      ...functionRoutes({ store, deployer, traffic, runtime: scheduler, imageGc, logs, maxUploadBytes, functions: fns, functionUrlOf, urlOf }),
      metricsRoute(metrics),
    ],
    token,
  );
  const apiPort = await api.listen(opts.apiPort, "127.0.0.1");
  await scheduler.recover();
  scheduler.start();
  const resumed = fns.async.resume((fn, version) => store.getVersion(fn, version));
  if (resumed > 0) log("info", "resumed queued asynchronous invocations", { count: resumed });

  const self = procStat(process.pid);
  const info: DaemonInfo = {
    pid: process.pid,
    ...(self && { startTime: self.startTime }),
    apiUrl: `http://127.0.0.1:${apiPort}`,
    routerUrl: `http://${opts.domain}${portSuffix}`,
    domain: opts.domain,
    routerPort,
  };
  store.addEvent({ type: "daemon.started", message: `daemon started: API ${info.apiUrl}, router ${info.routerUrl}` });
  log("info", "daemon started", { ...info, home: home.root });

  return {
    info,
    async close() {
      await api.close();
      await router.close();
      const waiting = await fns.close();
      if (waiting > 0) log("info", "asynchronous invocations still queued run when the daemon starts again", { count: waiting });
      await scheduler.shutdown();
      await drivers.close();
      await imageGc.idle(); // it records its result in the store
      store.addEvent({ type: "daemon.stopped", message: "daemon stopped" });
      await logs.close();
      store.close();
    },
  };
}

/** `strata up` in the foreground: start, publish daemon.json, stop cleanly on SIGTERM/SIGINT. */
export async function runDaemon(home: StrataHome, opts: DaemonOptions): Promise<void> {
  const daemon = await startDaemon(home, opts);
  await writeFile(home.daemonInfo, JSON.stringify(daemon.info, null, 2));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log("info", "stopping", { signal });
    try {
      await daemon.close();
      await rm(home.daemonInfo, { force: true });
      log("info", "stopped");
      process.exit(0);
    } catch (err) {
      log("error", "unclean stop", { error: (err as Error).message });
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
