/**
 * The app.yaml schema: App Engine Standard's keys that Strata acts on, plus Strata's extensions
 * (`sandbox`, `automatic_scaling.idle_timeout`). Each field's `.describe()` text is what error
 * messages say it accepts. Keys App Engine knows but Strata ignores are in app-yaml-ignored.ts.
 */
import { z } from "zod";
import { DURATION_FORMAT, durationProblem, EXPIRATION_FORMAT, expirationProblem } from "./duration.js";
import { INSTANCE_CLASSES } from "./instance-class.js";
import { runtimeProblem } from "./runtimes.js";
import { scalingProblems } from "./scaling-problems.js";
import { DRIVER_NAMES } from "./driver-names.js";

/** App Engine's inbound services; Strata acts on `warmup` only. */
export const INBOUND_SERVICES = [
  "mail",
  "mail_bounce",
  "xmpp_message",
  "xmpp_subscribe",
  "xmpp_presence",
  "xmpp_error",
  "channel_presence",
  "rest",
  "warmup",
] as const;

/** App Engine's limit on handlers in one app.yaml. */
export const MAX_HANDLERS = 100;

function customIssue(
  ctx: z.RefinementCtx,
  message: string | undefined,
  allowed?: string,
  path?: (string | number)[],
  atKey?: boolean,
): void {
  if (message === undefined) return;
  const params = { ...(allowed === undefined ? {} : { allowed }), ...(atKey ? { atKey } : {}) };
  ctx.addIssue({ code: "custom", message, ...(path ? { path } : {}), params });
}

/**
 * The RegExp a handler's url matches request paths with, as App Engine does: the whole path for
 * static_files and script handlers; for static_dir the url is a folder prefix and the last group
 * captures the file's path below it (`/css` serves `/css/site.css` as `site.css`).
 */
export function handlerUrlRegExp(handler: { url: string; static_dir?: string | undefined }): RegExp {
  if (handler.static_dir === undefined) return new RegExp(`^(?:${handler.url})$`);
  const prefix = handler.url.endsWith("/") ? handler.url : `${handler.url}/`;
  return new RegExp(`^(?:${prefix})(.*)$`);
}

function regexProblem(source: string): string | undefined {
  try {
    handlerUrlRegExp({ url: source });
    return undefined;
  } catch (err) {
    // A pattern that does not compile is the user's error: report why, with the Python-ism that causes it most.
    const python = /\(\?P[<=]/.test(source) ? "; Python's (?P<name>...) is written (?<name>...) in JavaScript" : "";
    return `${JSON.stringify(source)} is not a valid regular expression (${(err as Error).message})${python}`;
  }
}

function capturingGroups(pattern: string): number {
  // An alternative that matches "" makes exec() return one slot per group.
  return (new RegExp(`(?:${pattern})|`).exec("") as RegExpExecArray).length - 1;
}

const regexString = (what: string) =>
  z
    .string()
    .superRefine((s, ctx) => customIssue(ctx, regexProblem(s), what))
    .describe(what);

/** A path inside the uploaded folder: relative, and never climbing out of it. */
const uploadPath = (what: string) =>
  z
    .string()
    .superRefine((p, ctx) => {
      if (p === "") customIssue(ctx, "must not be empty", what);
      else if (p.startsWith("/")) customIssue(ctx, `"${p}" must be relative to the app's folder (no leading /)`, what);
      else if (p.split("/").includes("..")) customIssue(ctx, `"${p}" must stay inside the app's folder (no .. segments)`, what);
    })
    .describe(what);

const duration = z
  .string()
  .superRefine((s, ctx) => customIssue(ctx, durationProblem(s), DURATION_FORMAT))
  .describe(DURATION_FORMAT);

const expiration = z
  .string()
  .superRefine((s, ctx) => customIssue(ctx, expirationProblem(s), EXPIRATION_FORMAT))
  .describe(EXPIRATION_FORMAT);

const PENDING_LATENCY_FORMAT = `"automatic" or ${DURATION_FORMAT}`;
const pendingLatency = z
  .string()
  .superRefine((s, ctx) => customIssue(ctx, s === "automatic" ? undefined : durationProblem(s), PENDING_LATENCY_FORMAT))
  .describe(PENDING_LATENCY_FORMAT);

const idleInstances = z
  .union([z.int().min(0), z.literal("automatic")])
  .describe('a whole number (0 or more) or "automatic"');

const utilization = z.number().min(0.5).max(0.95).describe("a number from 0.5 to 0.95");

const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const HandlerSchema = z
  .strictObject({
    url: regexString("a regular expression for the URL path, like /static/.* (it must match the whole path)"),
    static_dir: uploadPath("a string (a folder in the upload)").optional(),
    static_files: uploadPath("a string (a file path in the upload; \\1, \\2 ... insert the url's groups)").optional(),
    upload: regexString("a regular expression of the files static_files may serve").optional(),
    script: z
      .string()
      .superRefine((s, ctx) =>
        customIssue(
          ctx,
          s === "auto" ? undefined : `only \`script: auto\` is supported in Strata (the app's entrypoint serves these URLs), got "${s}"`,
          "auto",
        ),
      )
      .describe("`auto`")
      .optional(),
    secure: z.enum(["optional", "never", "always"]).optional(),
    redirect_http_response_code: z.literal([301, 302, 303, 307]).optional(),
    http_headers: z
      .record(
        z.string().regex(HEADER_NAME_RE, "is not a valid HTTP header name"),
        z.string().regex(/^[^\r\n\0]*$/, "must be one line").describe("a string (the header's value)"),
      )
      .describe("a mapping of Header-Name: value")
      .optional(),
    expiration: expiration.optional(),
    mime_type: z
      .string()
      .regex(/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/, "must be a MIME type like text/html or application/json")
      .describe("a MIME type like text/html")
      .optional(),
  })
  .superRefine((handler, ctx) => {
    const kinds = (["static_dir", "static_files", "script"] as const).filter((k) => handler[k] !== undefined);
    if (kinds.length === 0) {
      customIssue(ctx, "a handler needs one of static_dir, static_files or script", "static_dir | static_files | script");
    }
    for (const extra of kinds.slice(1)) {
      customIssue(ctx, `cannot be combined with ${kinds[0]}: a handler has exactly one of static_dir, static_files or script`, undefined, [extra]);
    }
    if (handler.static_files !== undefined && handler.upload === undefined) {
      customIssue(ctx, "needs an `upload` regular expression next to it, matching the files it may serve (App Engine requires it)", undefined, ["static_files"]);
    }
    if (handler.upload !== undefined && handler.static_files === undefined) {
      customIssue(ctx, "is only used with static_files", undefined, ["upload"]);
    }
    // zod still runs this check when url failed its own (a custom issue does not stop the parse).
    if (handler.static_files !== undefined && regexProblem(handler.url) === undefined) {
      const groups = capturingGroups(handler.url);
      const refs = [...handler.static_files.matchAll(/\\(\d)/g)].map((m) => Number(m[1]));
      const highest = Math.max(0, ...refs);
      if (highest > groups) {
        customIssue(ctx, `refers to \\${highest} but url has ${groups} capturing group${groups === 1 ? "" : "s"}`, undefined, ["static_files"]);
      }
    }
  });

const AutomaticScalingSchema = z.strictObject({
  min_instances: z.int().min(0).max(1000).describe("a whole number from 0 to 1000").optional(),
  max_instances: z.int().min(0).max(2147483647).describe("a whole number (0 means no setting)").optional(),
  max_concurrent_requests: z.int().min(1).max(1000).describe("a whole number from 1 to 1000").optional(),
  target_cpu_utilization: utilization.optional(),
  target_throughput_utilization: utilization.optional(),
  min_idle_instances: idleInstances.optional(),
  max_idle_instances: idleInstances.optional(),
  min_pending_latency: pendingLatency.optional(),
  max_pending_latency: pendingLatency.optional(),
  /** Strata extension: stop an instance that has served nothing for this long. */
  idle_timeout: duration.optional(),
});

const BasicScalingSchema = z.strictObject({
  max_instances: z.int().min(1).describe("a whole number, 1 or more"),
  idle_timeout: duration.optional(),
});

const ManualScalingSchema = z.strictObject({
  instances: z.int().min(1).describe("a whole number, 1 or more"),
});

/** `runtime: os`: the Debian system the instance boots (built offline from Debian packages). */
const OsSchema = z.strictObject({
  release: z.enum(["bookworm", "trixie"]).describe("a Debian release: bookworm or trixie").default("bookworm"),
  packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "is not a Debian package name")).describe("a list of Debian packages").default([]),
  "cloud-init": z.string().min(1).describe("a cloud-init user-data file beside app.yaml, like cloud-init.yaml").optional(),
  files: z
    .array(z.strictObject({ source: z.string().min(1), destination: z.string().regex(/^\//, "must be an absolute path in the system") }))
    .describe("a list of {source, destination}: files beside app.yaml copied into the system")
    .default([]),
});

/**
 * Strata's `vm:` (App Engine flexible's `vm: true` is not it): the machine the vm driver boots for each
 * instance. Without it: one vCPU, the instance class's memory plus the guest kernel's share, q35.
 */
const VmSchema = z
  .strictObject({
    vcpus: z.int().min(1).max(64).describe("a whole number of virtual CPUs, 1 to 64").optional(),
    memory_mb: z.int().min(128).max(65536).describe("the guest's RAM in MiB, a whole number from 128 to 65536").optional(),
    machine: z.enum(["q35", "pc"]).describe("q35 (PCI Express, the default) or pc (i440FX)").optional(),
    data_disk_mb: z
      .int()
      .min(16)
      .max(1048576)
      .describe("the size in MiB (16 to 1048576) of a scratch disk each instance gets at /data, empty at every start")
      .optional(),
  })
  .describe("a mapping with vcpus, memory_mb, machine (q35 or pc) and data_disk_mb, for sandbox: vm");

/** App Engine flexible's bounds on readiness_check.app_start_timeout_sec (its default there is 300). */
export const APP_START_TIMEOUT_SEC = { min: 1, max: 1800 } as const;

/**
 * App Engine flexible's `readiness_check`: Strata acts on `app_start_timeout_sec`, how long each instance
 * of the app may take to listen on its port (a slow starter, such as a JVM in a VM under emulation, needs
 * more than its sandbox's default). Its other keys are accepted with a warning (app-yaml-ignored.ts).
 */
const ReadinessCheckSchema = z
  .strictObject({
    app_start_timeout_sec: z
      .int()
      .min(APP_START_TIMEOUT_SEC.min)
      .max(APP_START_TIMEOUT_SEC.max)
      .describe(`a whole number of seconds from ${APP_START_TIMEOUT_SEC.min} to ${APP_START_TIMEOUT_SEC.max}: how long an instance may take to listen on its port`)
      .optional(),
  })
  .describe("a mapping with app_start_timeout_sec");

export const AppYamlSchema = z
  .strictObject({
    runtime: z
      .string()
      .superRefine((r, ctx) => customIssue(ctx, runtimeProblem(r)))
      .describe("a runtime like python312, nodejs20, go122 or static"),
    service: z
      .string()
      .regex(
        /^(?!-)[a-z0-9-]{1,63}(?<!-)$/,
        "must be 1-63 lowercase letters, digits or -, not starting or ending with - (it names the app in its URL)",
      )
      .describe("a lowercase name like my-app")
      .optional(),
    entrypoint: z.string().min(1).describe("a command, like gunicorn -b :$PORT main:app").optional(),
    main: z.string().min(1).describe("a Go package path, like ./cmd/web").optional(),
    // Strata's extension for C and C++ apps: Debian packages (the -dev ones) the build installs first.
    build_packages: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "is not a Debian package name (lowercase letters, digits, + - .)"))
      .describe("a list of Debian packages, like [libmicrohttpd-dev]")
      .optional(),
    instance_class: z.enum(INSTANCE_CLASSES).optional(),
    handlers: z
      .array(HandlerSchema)
      .max(MAX_HANDLERS)
      .describe("a list of handlers (- url: ...)")
      .optional(),
    default_expiration: expiration.optional(),
    env_variables: z
      .record(
        z.string().regex(ENV_NAME_RE, "is not a valid environment variable name (letters, digits and _, not starting with a digit)"),
        z.string().describe('a string (write FOO: "" for an empty value)'),
      )
      .describe("a mapping of NAME: value")
      .optional(),
    inbound_services: z.array(z.enum(INBOUND_SERVICES)).describe("a list like [warmup]").optional(),
    automatic_scaling: AutomaticScalingSchema.optional(),
    basic_scaling: BasicScalingSchema.optional(),
    manual_scaling: ManualScalingSchema.optional(),
    sandbox: z.enum(DRIVER_NAMES).optional(),
    os: OsSchema.optional(),
    vm: VmSchema.optional(),
    port: z.int().min(1).max(65535).describe("the TCP port the app's service listens on").optional(),
    readiness_check: ReadinessCheckSchema.optional(),
  })
  .superRefine((spec, ctx) => {
    for (const problem of scalingProblems(spec)) {
      customIssue(ctx, problem.message, problem.allowed, [...problem.path], problem.atKey);
    }
    if (spec.os !== undefined && spec.runtime !== "os") customIssue(ctx, "only read with runtime: os", undefined, ["os"]);
    if (spec.vm !== undefined && spec.sandbox !== undefined && spec.sandbox !== "vm") {
      customIssue(ctx, `only read by sandbox: vm (this app asks for sandbox: ${spec.sandbox}); remove vm: or choose sandbox: vm`, undefined, ["vm"]);
    }
    if (spec.runtime === "static") {
      spec.handlers?.forEach((handler, i) => {
        if (handler.script !== undefined) {
          customIssue(ctx, "runtime static has no app process to run scripts; use static_dir or static_files, or a language runtime", undefined, ["handlers", i, "script"]);
        }
      });
    }
  });

export type AppYaml = z.infer<typeof AppYamlSchema>;
export type Handler = z.infer<typeof HandlerSchema>;
