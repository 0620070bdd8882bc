/**
 * The layer arrows of docs/ARCHITECTURE.md, checked by `npm run depcheck` (scripts/test.sh runs it before
 * the tests). Type-only imports count: an arrow is an arrow whether or not it survives compilation.
 * `errors.ts`, `home.ts` and `system/` are the shared base every layer may use.
 */
const SHARED = "^src/(errors|home)\\.ts$|^src/system/";

/** A rule that `layer` imports nothing under src/ but itself, the shared base and `allowed`. */
function onlyImports(layer, allowed, comment) {
  const own = `^src/${layer}/`;
  return {
    name: `${layer}-imports-only-${allowed.length ? allowed.join("-") : "itself"}`,
    severity: "error",
    comment,
    from: { path: own },
    to: { path: "^src/", pathNot: [own, SHARED, ...allowed.map((a) => (a.endsWith(".ts") ? `^src/${a.replace(/\./g, "\\.")}$` : `^src/${a}/`))] },
  };
}

module.exports = {
  forbidden: [
    {
      name: "a-layer-is-entered-through-its-index",
      severity: "error",
      comment: "Another layer's files are its own business: what it offers, it exports from its index.ts.",
      from: { path: "^src/([^/]+)/" },
      to: { path: "^src/[^/]+/", pathNot: ["^src/$1/", "^src/[^/]+/index\\.ts$", "^src/system/"] },
    },
    {
      name: "the-root-files-enter-layers-through-their-index",
      severity: "error",
      comment: "daemon.ts and the other root files wire layers together through what each exports from its index.ts.",
      from: { path: "^src/[^/]+\\.ts$" },
      to: { path: "^src/[^/]+/", pathNot: ["^src/[^/]+/index\\.ts$", "^src/system/"] },
    },
    {
      name: "nothing-imports-cli",
      severity: "error",
      comment: "cli/ is the outermost layer: the daemon and every other layer work without it.",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^src/cli/" },
    },
    onlyImports("config", [], "config/ parses and validates; it imports no other layer."),
    onlyImports("store", [], "store/ keeps records; it imports no other layer (its records repeat the few shapes they store)."),
    onlyImports("system", [], "system/ is the host helpers every layer shares."),
    onlyImports("logs", [], "logs/ writes and follows log files."),
    onlyImports("artifacts", [], "artifacts/ is content-addressed blobs and archives."),
    onlyImports("net", [], "net/ is host networking; drivers use it, it uses no driver."),
    onlyImports("images", ["artifacts", "config"], "images/ is the OCI layout and base images; it knows no driver and no builder."),
    onlyImports("sandbox", ["config", "images", "net"], "Drivers know images and net; they never import store, scheduler, deploy, build or router."),
    onlyImports(
      "build",
      ["artifacts", "images", "config", "store", "sandbox"],
      "build/ turns sources into artifacts; of the store it uses record types, of the sandbox layer the isolate bundle format.",
    ),
    onlyImports("router", ["artifacts", "config", "logs", "store", "sandbox"], "The router never imports build, deploy or the scheduler (it owns the InstanceSource port)."),
    onlyImports(
      "scheduler",
      ["config", "logs", "metrics", "sandbox", "store", "router", "deploy"],
      "The scheduler implements the router's and the deploy path's ports; it imports nothing else of theirs.",
    ),
    onlyImports("metrics", [], "metrics/ exports what it is handed; it imports no other layer."),
    onlyImports(
      "deploy",
      ["artifacts", "build", "config", "images", "store", "sandbox"],
      "The deploy path (api → deploy → build → images, deploy → store) chooses drivers through the catalog and reaches no driver's insides; the scheduler it reaches only through its own VersionRuntime port.",
    ),
    onlyImports(
      "api",
      ["deploy", "scheduler", "functions", "store", "config", "images", "artifacts", "logs", "metrics", "sandbox"],
      "The API drives the control plane; it never builds, routes or runs a driver itself.",
    ),
    {
      name: "nobody-imports-deploy-but-the-daemon-and-api",
      severity: "error",
      comment: "Only the API and the daemon drive the deploy path; the scheduler implements its VersionRuntime port.",
      from: { path: "^src/", pathNot: ["^src/deploy/", "^src/daemon\\.ts$", "^src/api/", "^src/scheduler/"] },
      to: { path: "^src/deploy/" },
    },
    {
      name: "nobody-imports-the-api-but-the-daemon-and-cli",
      severity: "error",
      comment: "The CLI shares the API's schemas (response types are z.infer of them); nothing else depends on the API.",
      from: { path: "^src/", pathNot: ["^src/api/", "^src/daemon\\.ts$", "^src/cli/"] },
      to: { path: "^src/api/" },
    },
    onlyImports(
      "functions",
      ["config", "logs", "store", "sandbox", "router"],
      "functions/ serves the Runtime API and invocations; it gets instances through its own port (FunctionInstances), never the scheduler.",
    ),
    {
      name: "nobody-imports-the-scheduler-but-the-daemon-and-api",
      severity: "error",
      comment: "The router and the deploy path reach the scheduler only through the ports they own.",
      from: { path: "^src/", pathNot: ["^src/scheduler/", "^src/daemon\\.ts$", "^src/api/"] },
      to: { path: "^src/scheduler/" },
    },
  ],
  options: {
    // TypeScript 7 has no compiler API for dependency-cruiser to parse with; swc parses the sources.
    parser: "swc",
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
  },
};
