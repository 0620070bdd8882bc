import { request } from "node:http";
import { StrataError } from "../../../errors.js";

/**
 * A typed client for Firecracker's API socket: HTTP/1.1 with JSON bodies on a unix socket, as described by
 * src/firecracker/swagger/firecracker.yaml (v1.16.1; test/fixtures/firecracker/ keeps the copy the tests
 * check every request against). Each method is one documented operation; success is 204 with no body.
 */

/** MachineConfiguration. */
export interface MachineConfig { readonly vcpu_count: number; readonly mem_size_mib: number }
/** BootSource. */
export interface BootSource { readonly kernel_image_path: string; readonly initrd_path?: string; readonly boot_args?: string }
/** Drive (virtio-block). */
export interface Drive { readonly drive_id: string; readonly path_on_host: string; readonly is_root_device: boolean; readonly is_read_only: boolean }
/** NetworkInterface. */
export interface NetworkInterface { readonly iface_id: string; readonly host_dev_name: string; readonly guest_mac?: string }
/** Vsock. */
export interface Vsock { readonly guest_cid: number; readonly uds_path: string }
/** SnapshotCreateParams. */
export interface SnapshotCreate { readonly snapshot_type: "Full"; readonly snapshot_path: string; readonly mem_file_path: string }
/** SnapshotLoadParams, with the memory read from a file (MemoryBackend File). */
export interface SnapshotLoad {
  readonly snapshot_path: string;
  readonly mem_backend: { readonly backend_type: "File"; readonly backend_path: string };
  readonly resume_vm: boolean;
}

const TIMEOUT_MS = 30_000;

export class FirecrackerApi {
  constructor(private readonly socket: string, private readonly timeoutMs = TIMEOUT_MS) {}

  machineConfig(c: MachineConfig): Promise<void> { return this.call("PUT", "/machine-config", c); }
  bootSource(b: BootSource): Promise<void> { return this.call("PUT", "/boot-source", b); }
  drive(d: Drive): Promise<void> { return this.call("PUT", `/drives/${encodeURIComponent(d.drive_id)}`, d); }
  networkInterface(n: NetworkInterface): Promise<void> { return this.call("PUT", `/network-interfaces/${encodeURIComponent(n.iface_id)}`, n); }
  vsock(v: Vsock): Promise<void> { return this.call("PUT", "/vsock", v); }
  action(action_type: "InstanceStart"): Promise<void> { return this.call("PUT", "/actions", { action_type }); }
  vmState(state: "Paused" | "Resumed"): Promise<void> { return this.call("PATCH", "/vm", { state }); }
  snapshotCreate(s: SnapshotCreate, signal?: AbortSignal): Promise<void> { return this.call("PUT", "/snapshot/create", s, signal); }
  snapshotLoad(s: SnapshotLoad): Promise<void> { return this.call("PUT", "/snapshot/load", s); }

  /** One request; anything but 2xx becomes a StrataError naming the operation and Firecracker's fault_message. */
  private call(method: "PUT" | "PATCH", path: string, body: object, signal?: AbortSignal): Promise<void> {
    const payload = JSON.stringify(body);
    const what = `firecracker ${method} ${path}`;
    return new Promise<void>((resolve, reject) => {
      const req = request({
        // A connection per request (no pooled keep-alive socket outliving a killed VMM or a closed test server).
        socketPath: this.socket, method, path, agent: false, timeout: this.timeoutMs, ...(signal && { signal }),
        headers: { "Content-Type": "application/json", Accept: "application/json", "Content-Length": Buffer.byteLength(payload) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve();
          const text = Buffer.concat(chunks).toString("utf8");
          reject(new StrataError("INSTANCE_FAILED", `${what} failed (${status}): ${faultMessage(text)}`));
        });
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", (err) => reject(err instanceof StrataError ? err : new StrataError("INSTANCE_FAILED", `${what} failed: ${err.message}`, undefined, { cause: err })));
      req.end(payload);
    });
  }
}

/** The Error definition's fault_message, or the body as it came when it is not one. */
function faultMessage(text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && typeof (parsed as { fault_message?: unknown }).fault_message === "string") {
      return (parsed as { fault_message: string }).fault_message;
    }
  } catch {
    // not JSON: reported as it came, below
  }
  return text.trim() || "no error message";
}
