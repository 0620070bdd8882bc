import { spawn } from "node:child_process";
import { open, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../../errors.js";
import { exec, which } from "../../../system/exec.js";
import { processExists } from "../../../system/process.js";
import type { Probe } from "../../driver.js";
import { VM_FILES, type VmmBackend, type VmSpec } from "../backend.js";
import { firecrackerMissing } from "../probe.js";
import { FirecrackerApi } from "./api.js";
import { packSnapshot, unpackState } from "./snapshot-file.js";
import { VsockBridge } from "./channels.js";
import { GUEST_CID, VSOCK_KERNEL_ARG, VSOCK_UDS } from "./vsock.js";

const FIRECRACKER = "firecracker";
const LAUNCH_WAIT_MS = 10_000;
const KILL_WAIT_MS = 2_000;
const POLL_MS = 10;
/**
 * Added to the driver's command line (the last `reboot=` wins): the guest init powers off by rebooting, and
 * Firecracker exits on the keyboard controller's reset (`reboot=k`, as its default command line has it); a
 * triple fault (`reboot=t`, what QEMU's microvm gets) is a KVM exit Firecracker does not handle.
 */
const FIRECRACKER_ARGS = `reboot=k ${VSOCK_KERNEL_ARG}`;
/** The run disk as Firecracker's working directory (the instance's) names it: a snapshot restored into another instance's directory finds that instance's copy. */
const RUN_DISK = VM_FILES.run;

/**
 * The VM's configuration as Firecracker's API takes it, in the order its getting-started guide uses: all
 * before InstanceStart. Drives: vda the image's root (read-only, shared by every instance of the image),
 * vdb the run file; neither is Firecracker's "root device" (that would add root= to the command line: the
 * guest init mounts the root itself). Firecracker adds the virtio-mmio devices to the command line; Strata
 * adds FIRECRACKER_ARGS (the guest init then serves its channels on vsock ports).
 */
export async function configure(api: FirecrackerApi, vm: VmSpec): Promise<void> {
  await api.machineConfig({ vcpu_count: vm.vcpus, mem_size_mib: vm.memoryMb });
  await api.bootSource({ kernel_image_path: vm.kernel, initrd_path: vm.initramfs, boot_args: `${vm.cmdline} ${FIRECRACKER_ARGS}` });
  await api.drive({ drive_id: "root", path_on_host: vm.rootDisk, is_root_device: false, is_read_only: true });
  await api.drive({ drive_id: "run", path_on_host: RUN_DISK, is_root_device: false, is_read_only: true });
  await api.networkInterface({ iface_id: "eth0", host_dev_name: vm.tap, guest_mac: vm.mac });
  await api.vsock({ guest_cid: GUEST_CID, uds_path: VSOCK_UDS });
}

/**
 * Loads a snapshot written by snapshot() into a Firecracker that has just started (nothing configured: a
 * load configures everything). The guest stays paused until resume(). The state part is copied out; guest
 * memory is mapped (privately) from the snapshot file itself.
 */
export async function restore(api: FirecrackerApi, dir: string, snapshot: string): Promise<void> {
  const state = join(dir, "restore.vmstate");
  await unpackState(snapshot, state);
  await api.snapshotLoad({ snapshot_path: state, mem_backend: { backend_type: "File", backend_path: snapshot }, resume_vm: false });
}

/**
 * Firecracker on KVM (Firecracker runs nowhere else). The VMM runs detached in the instance's network
 * namespace with the instance's directory as its working directory; its serial console (the guest's
 * kernel messages) is its stdout, kept as the boot log. The guest channels are vsock ports (vsock.ts).
 */
export class FirecrackerBackend implements VmmBackend {
  /** Each running VM's channel bridge, by instance directory. */
  private readonly bridges = new Map<string, VsockBridge>();

  /** `kvmRuns`: a /dev/kvm on which a trial guest ran (guest/accel.ts: some hosts' /dev/kvm stalls guests). */
  constructor(private readonly kvmRuns: () => Promise<boolean>) {}

  async detail(): Promise<string> {
    return "firecracker";
  }

  /** Firecracker runs only on KVM. */
  async emulatesCpu(): Promise<boolean> {
    return false;
  }

  async probe(): Promise<Probe> {
    const missing = await firecrackerMissing(await this.kvmRuns());
    if (missing.length) return { available: false, reason: `firecracker needs ${missing.join(" and ")}`, install: ["firecracker (a release binary from its GitHub releases, on PATH)"] };
    const bin = (await which(FIRECRACKER))!;
    return { available: true, details: { firecracker: `${bin} (${(await exec([bin, "--version"])).stdout.split("\n")[0] ?? ""})` } };
  }

  async launch(vm: VmSpec): Promise<number> {
    const bin = await which(FIRECRACKER);
    if (!bin) throw new StrataError("SANDBOX_UNAVAILABLE", "the firecracker binary is not on PATH");
    const apiSock = join(vm.dir, VM_FILES.control);
    await rm(apiSock, { force: true });
    const pid = await spawnDetached(["nsenter", `--net=${vm.netnsPath}`, "--", bin, "--api-sock", apiSock], vm.dir, vm.bootLog);
    await writeFile(join(vm.dir, VM_FILES.pid), String(pid));
    await waitForSocket(apiSock, pid, vm.id);
    const api = new FirecrackerApi(apiSock);
    if (vm.incoming) {
      await restore(api, vm.dir, vm.incoming);
    } else {
      await configure(api, vm);
      await api.action("InstanceStart");
      await this.bridge(vm.dir, pid);
    }
    return pid;
  }

  /** The host end of the guest's channels (channels.ts), until the VMM is gone or kill()/close(). */
  private async bridge(dir: string, pid: number): Promise<void> {
    await this.bridges.get(dir)?.close();
    const bridge = await VsockBridge.open(dir, () => processExists(pid), () => {
      if (this.bridges.get(dir) === bridge) this.bridges.delete(dir);
    });
    this.bridges.set(dir, bridge);
  }

  async adopt(dir: string, pid: number): Promise<void> {
    await this.bridge(dir, pid);
  }

  async close(): Promise<void> {
    const all = [...this.bridges.values()];
    this.bridges.clear();
    await Promise.all(all.map(async (b) => { await b.close(); await b.ended(); }));
  }

  async kill(dir: string, pid: number): Promise<void> {
    // The guest had its grace period; Firecracker holds nothing that needs an orderly end.
    const bridge = this.bridges.get(dir);
    this.bridges.delete(dir);
    await bridge?.close();
    if (!processExists(pid)) return;
    process.kill(pid, "SIGKILL");
    for (let i = 0; i * POLL_MS < KILL_WAIT_MS && processExists(pid); i++) await sleep(POLL_MS);
    if (processExists(pid)) throw new StrataError("INSTANCE_FAILED", `firecracker (pid ${pid}) did not end after SIGKILL`);
  }

  /** Pause, Full snapshot (state + memory), resume: the guest runs on whether or not the snapshot was written. */
  async snapshot(dir: string, file: string, signal: AbortSignal): Promise<void> {
    const api = new FirecrackerApi(join(dir, VM_FILES.control));
    const state = join(dir, "snapshot.vmstate"); // in the instance's directory: the store holds only its one file
    signal.throwIfAborted();
    await api.vmState("Paused");
    try {
      await api.snapshotCreate({ snapshot_type: "Full", snapshot_path: state, mem_file_path: file }, signal);
      signal.throwIfAborted();
      await packSnapshot(file, state);
    } finally {
      await rm(state, { force: true });
      await api.vmState("Resumed");
    }
  }

  async resume(dir: string): Promise<void> {
    await new FirecrackerApi(join(dir, VM_FILES.control)).vmState("Resumed");
    await this.bridge(dir, Number(await readFile(join(dir, VM_FILES.pid), "utf8")));
  }
}

/** Starts argv in its own session (it outlives the daemon), stdout and stderr appended to `logFile`; its pid. */
async function spawnDetached(argv: readonly string[], cwd: string, logFile: string): Promise<number> {
  const out = await open(logFile, "a", 0o600);
  try {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, detached: true, stdio: ["ignore", out.fd, out.fd] });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => resolve(child.pid!));
    });
    child.unref();
    return pid;
  } finally {
    await out.close();
  }
}

/** Until the API socket accepts a connection (nsenter has exec'd firecracker by then: the pid is its). */
async function waitForSocket(path: string, pid: number, id: string): Promise<void> {
  const deadline = Date.now() + LAUNCH_WAIT_MS;
  while (Date.now() < deadline) {
    if (!processExists(pid)) throw new StrataError("INSTANCE_FAILED", `firecracker for ${id} exited at start (see its boot log)`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(path).once("connect", () => { s.destroy(); resolve(true); }).once("error", () => resolve(false));
    });
    if (up) return;
    await sleep(POLL_MS);
  }
  throw new StrataError("INSTANCE_FAILED", `firecracker for ${id} did not open its API socket within ${LAUNCH_WAIT_MS} ms`);
}
