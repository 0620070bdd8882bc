import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import type { ImageRuntimeConfig } from "../../images/index.js";
import type { InstanceSpec } from "../driver.js";
import type { ProcessPlan } from "./bundle.js";

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** What prepare() keeps of an image config: the parts that do not depend on the instance. */
export interface ImageProcess {
  readonly entrypoint: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  readonly exposedPorts: readonly string[];
}

/**
 * Reads Entrypoint+Cmd, Env, WorkingDir, User and ExposedPorts from an image config. A user given by
 * name is resolved in the image's own /etc/passwd and /etc/group (the topmost layer that has them).
 */
export async function imageProcess(config: ImageRuntimeConfig, layersTopFirst: readonly string[]): Promise<ImageProcess> {
  const { uid, gid } = await resolveUser(config.User ?? "", layersTopFirst);
  return {
    entrypoint: [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])],
    env: config.Env ?? [],
    cwd: config.WorkingDir || "/",
    uid,
    gid,
    exposedPorts: Object.keys(config.ExposedPorts ?? {}),
  };
}

/**
 * The instance's process: spec.command (run as given) or the image's; spec.env merged over the image's Env,
 * and that over the sandbox's `defaults` (a guest on an emulated CPU: guest/emulated-cpu.ts).
 */
export function processFor(image: ImageProcess, spec: InstanceSpec, defaults: Readonly<Record<string, string>> = {}): ProcessPlan {
  const args = spec.command?.length ? [...spec.command] : [...image.entrypoint];
  if (!args.length) {
    throw new StrataError("INVALID_CONFIG", "the image has no Entrypoint or Cmd and app.yaml gives no entrypoint: nothing to run");
  }
  const env = new Map<string, string>(Object.entries(defaults));
  for (const kv of image.env) {
    const eq = kv.indexOf("=");
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  if (!env.has("PATH")) env.set("PATH", DEFAULT_PATH);
  env.set("HOSTNAME", spec.instanceId);
  for (const [k, v] of Object.entries(spec.env)) env.set(k, v);
  return { args, env: [...env].map(([k, v]) => `${k}=${v}`), cwd: image.cwd, uid: image.uid, gid: image.gid };
}

async function resolveUser(user: string, layersTopFirst: readonly string[]): Promise<{ uid: number; gid: number }> {
  if (!user) return { uid: 0, gid: 0 };
  const [u = "", g] = user.split(":", 2);
  // A numeric uid without a group still takes its primary group from /etc/passwd, as Docker does.
  const passwd = /^\d+$/.test(u) && g !== undefined && /^\d+$/.test(g) ? [] : await readDbFile("etc/passwd", layersTopFirst);
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const entry = passwd.find((f) => f[2] === u);
    gid = entry ? Number(entry[3]) : undefined;
  } else {
    const entry = passwd.find((f) => f[0] === u);
    if (!entry) throw new StrataError("INVALID_CONFIG", `the image's User "${user}" is not in its /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const group = (await readDbFile("etc/group", layersTopFirst)).find((f) => f[0] === g);
      if (!group) throw new StrataError("INVALID_CONFIG", `the image's User group "${g}" is not in its /etc/group`);
      gid = Number(group[2]);
    }
  }
  return { uid, gid: gid ?? 0 };
}

/** Colon-separated fields of a passwd-style file, from the topmost layer that has it. */
async function readDbFile(rel: string, layersTopFirst: readonly string[]): Promise<string[][]> {
  for (const layer of layersTopFirst) {
    const text = await readFile(join(layer, rel), "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ENOTDIR") return null;
      throw err;
    });
    if (text !== null) return text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(":"));
  }
  return [];
}
