import type { Probe } from "../driver.js";
import type { GuestBoot } from "../guest/index.js";

/**
 * One VM as every backend sees it: the guest pipeline's kernel, initramfs and disks, the tap the NIC uses
 * inside the instance's network namespace, and the files of the host<->guest channel. A backend turns it
 * into its VMM's own terms: QEMU's argv and QMP (qemu.ts), Firecracker's API requests (firecracker/).
 */
export interface VmSpec extends GuestBoot {
  readonly id: string;
  /** The instance's directory: sockets, pid file, log and boot files live here. */
  readonly dir: string;
  readonly memoryMb: number;
  readonly vcpus: number;
  readonly netnsPath: string;
  readonly tap: string;
  readonly mac: string;
  /** Guest -> host events (log lines, exit), appended by the VMM; outlives the daemon. */
  readonly logFile: string;
  /** The serial console: kernel messages, for a boot that fails. */
  readonly bootLog: string;
  /** A snapshot to restore instead of booting. */
  readonly incoming?: string;
  /** Told what the instance's log should say about its launch (guest RAM that could not go on huge pages). */
  readonly note?: (line: string) => void;
}

/** The files a backend keeps in an instance's directory, by name. */
export const VM_FILES = {
  pid: "vmm.pid", control: "vmm.sock", guestControl: "ctl.sock", guestExec: "exec.sock", log: "guest.log", offset: "log.offset", boot: "boot.log", run: "run.img",
} as const;

export interface VmmBackend {
  /** For `strata instances`: "qemu-tcg", "qemu-kvm", "firecracker". */
  detail(): Promise<string>;
  /** Whether the guest's CPU is emulated (QEMU's TCG), not run by the host's (KVM). */
  emulatesCpu(): Promise<boolean>;
  /** Can this host run the backend? What is missing, in words a user can act on. */
  probe(): Promise<Probe>;
  /** Starts the VMM detached (it outlives the daemon); returns its pid once its control socket answers. */
  launch(vm: VmSpec): Promise<number>;
  /** Ends the VMM at once (its guest had its grace period already). */
  kill(dir: string, pid: number): Promise<void>;
  /**
   * Pauses the running guest, writes its memory and device state to `file`, and lets it run on. `signal`
   * cancels it: every socket and server it opened is closed before it settles.
   */
  snapshot(dir: string, file: string, signal: AbortSignal): Promise<void>;
  /** After launch() with `incoming`: waits for the restore to finish and resumes the guest. */
  resume(dir: string): Promise<void>;
  /** After a daemon restart, for a VM it re-adopts: takes up again what the daemon held for it (Firecracker's channel bridge). */
  adopt?(dir: string, pid: number): Promise<void>;
  /** Lets go of what the daemon holds for running VMs (they run on). */
  close?(): Promise<void>;
}
