import { exec } from "../../system/exec.js";

const XL_TIMEOUT_MS = 60_000;

/**
 * The xl(1) commands the driver uses, each an argv (no shell): create from an xl.cfg, find a domain by
 * name, list domain names, ask a domain to shut down, destroy it.
 */
export class Xl {
  constructor(readonly bin: string) {}

  /** `xl create -p`: the domain is built and its backends connected, but it runs only when unpaused. */
  async createPaused(cfgPath: string): Promise<void> {
    await exec([this.bin, "create", "-p", cfgPath], { timeoutMs: XL_TIMEOUT_MS });
  }

  async unpause(name: string): Promise<void> {
    await exec([this.bin, "unpause", name], { timeoutMs: XL_TIMEOUT_MS });
  }

  /** The domain's id, or undefined when no domain has that name (xl domid exits 1). */
  async domid(name: string): Promise<number | undefined> {
    const r = await exec([this.bin, "domid", name], { okCodes: [0, 1], timeoutMs: XL_TIMEOUT_MS });
    const id = Number(r.stdout.trim());
    return r.code === 0 && Number.isInteger(id) && id > 0 ? id : undefined;
  }

  /** Names of the running domains (`xl list`: a header, then one domain a line, its name first). */
  async names(): Promise<string[]> {
    const r = await exec([this.bin, "list"], { timeoutMs: XL_TIMEOUT_MS });
    return r.stdout.split("\n").slice(1).map((l) => l.trim().split(/\s+/)[0] ?? "").filter(Boolean);
  }

  /** `xl shutdown`: the PV power-off request; the guest init passes it to the app as SIGTERM. */
  async shutdown(name: string): Promise<void> {
    await exec([this.bin, "shutdown", name], { timeoutMs: XL_TIMEOUT_MS });
  }

  async destroy(name: string): Promise<void> {
    await exec([this.bin, "destroy", name], { timeoutMs: XL_TIMEOUT_MS });
  }
}
